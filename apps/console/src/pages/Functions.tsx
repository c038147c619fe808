import { useMemo, useState } from 'react';
import type { FunctionInfo } from '@fx/protocol';
import { useSession } from '../app-context';
import { ConfirmButton, Empty, ErrorNote, FunctionSource, time } from '../components';
import { Page, usePageData } from '../page';
import { Link } from '../router';

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
  const { data: items, setData: setItems } = state;
  const [actionError, setActionError] = useState<unknown>(null);
  const [search, setSearch] = useState('');
  const names = useMemo(() => {
    const q = search.trim().toLowerCase();
    return byName(items ?? []).filter((g) => !q || g.name.toLowerCase().includes(q));
  }, [items, search]);
  const toggle = async (f: FunctionInfo) => {
    setActionError(null);
    try {
      const updated = await api.setFunctionPublic(f.id, !f.public);
      setItems((cur) => cur?.map((x) => (x.id === f.id ? updated : x)) ?? cur);
    } catch (e) {
      setActionError(e);
    }
  };
  const remove = async (f: FunctionInfo) => {
    setActionError(null);
    try {
      await api.deleteFunction(f.id);
      setItems((cur) => cur?.filter((x) => x.id !== f.id) ?? cur);
    } catch (e) {
      setActionError(e);
    }
  };
  return (
    <Page id="functions" title="Functions" what="functions" state={state}>
      {(items) => (
        <>
          {actionError ? <ErrorNote error={actionError} /> : null}
          {items.length === 0 ? (
            <Empty title="No functions yet">Register one with the SDK (client.registerFunction), fx functions register, or POST /v1/functions.</Empty>
          ) : (
            <>
              <div className="filters">
                <label>
                  Search
                  <input
                    type="search"
                    value={search}
                    onChange={(e) => setSearch(e.target.value)}
                    placeholder="function name"
                    aria-label="Search functions by name"
                  />
                </label>
                <span className="muted small">
                  {names.length} of {byName(items).length} names · a name means its newest version; <span className="mono">name@N</span> picks another
                </span>
              </div>
              {names.length === 0 ? (
                <Empty title="No function matches">No function name contains “{search}”.</Empty>
              ) : (
                <table className="table responsive">
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">Runtime</th>
                      <th scope="col">Source or command</th>
                      <th scope="col">Owner</th>
                      <th scope="col">Registered</th>
                      <th scope="col">Public</th>
                      <th scope="col">Actions</th>
                    </tr>
                  </thead>
                  <tbody>
                    {names.map((g) => {
                      const f = g.versions[0]!;
                      const mine = f.ownerId === user.id || user.admin;
                      return (
                        <tr key={g.key} data-function={g.name}>
                          <td data-label="Name">
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
                                            onConfirm={() => remove(v)}
                                          />
                                        ) : null}
                                      </li>
                                    ))}
                                  </ul>
                                </details>
                              ) : null}
                            </div>
                          </td>
                          <td data-label="Runtime">{f.runtime}</td>
                          <td data-label="Source or command">
                            <FunctionSource fn={f} />
                          </td>
                          <td data-label="Owner">{f.ownerId === user.id ? 'you' : <span className="mono">{f.ownerId.slice(0, 8)}</span>}</td>
                          <td data-label="Registered">{time(f.createdAt)}</td>
                          <td data-label="Public">
                            <label className="switch">
                              <input
                                type="checkbox"
                                role="switch"
                                checked={f.public}
                                disabled={!mine}
                                onChange={() => toggle(f)}
                                aria-label={`${f.name} is public`}
                              />
                              <span>{f.public ? 'public' : 'private'}</span>
                            </label>
                          </td>
                          <td data-label="Actions">
                            {mine ? (
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
                            ) : null}
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              )}
            </>
          )}
        </>
      )}
    </Page>
  );
}
