import { useMemo, useState } from 'react';
import type { FunctionInfo } from '@fx/protocol';
import { useSession } from '../app-context';
import { ConfirmButton, CutNote, Empty, ErrorNote, FunctionSource, time } from '../components';
import { Field } from '../fields';
import { Page, useAction, usePageData } from '../page';
import { Link } from '../router';
import { Table, type Column } from '../table';

/** One function name of one owner: its live versions, newest first (the bare name means the first). */
interface Named {
  key: string;
  name: string;
  ownerId: string;
  versions: FunctionInfo[];
}

function byName(items: readonly FunctionInfo[]): Named[] {
  const groups = new Map<string, Named>();
  for (const f of items) {
    const key = `${f.ownerId}/${f.name}`;
    const g = groups.get(key) ?? { key, name: f.name, ownerId: f.ownerId, versions: [] };
    g.versions.push(f);
    groups.set(key, g);
  }
  const list = [...groups.values()];
  for (const g of list) g.versions.sort((a, b) => b.version - a.version);
  return list.sort((a, b) => a.name.localeCompare(b.name) || a.ownerId.localeCompare(b.ownerId));
}

export function Functions() {
  const { api, user } = useSession();
  const state = usePageData(() => api.functions(), [api]);
  const { data, setData } = state;
  const items = data?.items;
  /** Changes the listed functions in place (a toggle's answer, a deletion) without reading the list again. */
  const setItems = (change: (cur: FunctionInfo[]) => FunctionInfo[]) => setData((cur) => cur && { ...cur, items: change(cur.items) });
  const action = useAction();
  const [search, setSearch] = useState('');
  const names = useMemo(() => {
    const q = search.trim().toLowerCase();
    return byName(items ?? []).filter((g) => !q || g.name.toLowerCase().includes(q));
  }, [items, search]);
  const toggle = (f: FunctionInfo) =>
    action.run(async () => {
      const updated = await api.setFunctionPublic(f.id, !f.public);
      setItems((cur) => cur.map((x) => (x.id === f.id ? updated : x)));
    });
  const remove = (f: FunctionInfo) =>
    action.run(async () => {
      await api.deleteFunction(f.id);
      setItems((cur) => cur.filter((x) => x.id !== f.id));
    });
  const mine = (f: FunctionInfo) => f.ownerId === user.id || user.admin;
  // a row shows a name's newest version
  const newest = (g: Named) => g.versions[0]!;
  const columns: Array<Column<Named>> = [
    { label: 'Name', cell: (g) => <NameCell g={g} mine={mine(newest(g))} onDelete={remove} /> },
    { label: 'Runtime', cell: (g) => newest(g).runtime },
    { label: 'Source or command', cell: (g) => <FunctionSource fn={newest(g)} /> },
    { label: 'Owner', cell: (g) => (newest(g).ownerId === user.id ? 'you' : <span className="mono">{newest(g).ownerId.slice(0, 8)}</span>) },
    { label: 'Registered', cell: (g) => time(newest(g).createdAt) },
    {
      label: 'Public',
      cell: (g) => {
        const f = newest(g);
        return (
          <label className="switch">
            <input type="checkbox" role="switch" checked={f.public} disabled={!mine(f)} onChange={() => toggle(f)} aria-label={`${f.name} is public`} />
            <span>{f.public ? 'public' : 'private'}</span>
          </label>
        );
      },
    },
    {
      label: 'Actions',
      cell: (g) => {
        const f = newest(g);
        return mine(f) ? (
          <ConfirmButton
            label={`Delete ${g.name}@${f.version}`}
            className="danger"
            confirm={
              g.versions.length > 1
                ? `Delete ${g.name}@${f.version}? The name then means v${g.versions[1]!.version}.`
                : `Delete ${g.name}? Its queued tasks fail.`
            }
            onConfirm={() => remove(f)}
          />
        ) : null;
      },
    },
  ];
  return (
    <Page id="functions" title="Functions" what="functions" state={state}>
      {({ items, cut }) => (
        <>
          {action.error ? <ErrorNote error={action.error} /> : null}
          {items.length === 0 ? (
            <Empty title="No functions yet">Register one with the SDK (client.registerFunction), fx functions register, or POST /v1/functions.</Empty>
          ) : (
            <>
              <div className="filters">
                <Field label="Search">
                  <input
                    type="search"
                    value={search}
                    onChange={(e) => setSearch(e.target.value)}
                    placeholder="function name"
                    aria-label="Search functions by name"
                  />
                </Field>
                <span className="muted small">
                  {names.length} of {byName(items).length} names · a name means its newest version; <span className="mono">name@N</span> picks another
                </span>
              </div>
              <Table
                rows={names}
                columns={columns}
                rowKey={(g) => g.key}
                rowAttributes={(g) => ({ 'data-function': g.name })}
                empty={<Empty title="No function matches">No function name contains “{search}”.</Empty>}
              />
              {cut ? <CutNote shown={items.length} what="functions" /> : null}
            </>
          )}
        </>
      )}
    </Page>
  );
}

/** A name, its newest version and id, and its other versions (each deletable by whoever may). */
function NameCell({ g, mine, onDelete }: { g: Named; mine: boolean; onDelete: (f: FunctionInfo) => void }) {
  const f = g.versions[0]!;
  return (
    <div>
      <Link to={`/tasks?functionId=${f.id}`}>{f.name}</Link> <span className="muted small">v{f.version}</span>
      <div className="muted mono small">{f.id}</div>
      {g.versions.length > 1 ? (
        <details className="versions">
          <summary>{g.versions.length} versions</summary>
          <ul aria-label={`Versions of ${g.name}`}>
            {g.versions.map((v) => (
              <li key={v.id} data-version={v.version}>
                <Link to={`/tasks?functionId=${v.id}`}>
                  {g.name}@{v.version}
                </Link>{' '}
                <span className="muted small">{time(v.createdAt)}</span> <span className="muted mono small">{v.id.slice(0, 8)}</span>{' '}
                {mine && v !== f ? (
                  <ConfirmButton
                    label={`Delete ${g.name}@${v.version}`}
                    className="danger"
                    confirm={`Delete ${g.name}@${v.version}? Its queued tasks fail.`}
                    onConfirm={() => onDelete(v)}
                  />
                ) : null}
              </li>
            ))}
          </ul>
        </details>
      ) : null}
    </div>
  );
}
