import { useState, type MouseEvent } from 'react';
import { AuditAction, AuditTargetType, type AuditEntry } from '@fx/protocol';
import { auditExportPath, type AuditFilters } from '../api';
import { useSession } from '../app-context';
import { Empty, ErrorNote, When } from '../components';
import { Page, usePageData } from '../page';
import { Link } from '../router';

/** "Since" choices: how far back from now. */
const SINCE: Array<{ label: string; ms: number | null }> = [
  { label: 'any time', ms: null },
  { label: 'the last hour', ms: 3_600_000 },
  { label: 'the last day', ms: 86_400_000 },
  { label: 'the last 7 days', ms: 7 * 86_400_000 },
  { label: 'the last 30 days', ms: 30 * 86_400_000 },
];
const PAGE = 100;

/**
 * The audit log, newest first: an admin sees every entry, anyone else what concerns their things and
 * what they did. Filters by action, target type and age; older entries page in; the export saves every
 * matching entry as JSON lines.
 */
export function Audit() {
  const { api, user } = useSession();
  const [action, setAction] = useState('');
  const [targetType, setTargetType] = useState('');
  const [since, setSince] = useState(0);
  // fixed when a filter changes, so that "older" pages and the export mean the same window
  const [filters, setFilters] = useState<AuditFilters>({});
  const apply = (next: { action?: string; targetType?: string; since?: number }) => {
    const a = next.action ?? action;
    const t = next.targetType ?? targetType;
    const s = next.since ?? since;
    const ms = SINCE[s]!.ms;
    setFilters({ ...(a ? { action: a } : {}), ...(t ? { targetType: t } : {}), ...(ms ? { since: new Date(Date.now() - ms).toISOString() } : {}) });
  };
  const state = usePageData(() => api.audit({ ...filters, limit: PAGE }), [api, filters]);
  const [more, setMore] = useState<{ error: unknown; loading: boolean }>({ error: null, loading: false });
  const loadOlder = async (before: string) => {
    setMore({ error: null, loading: true });
    try {
      const older = await api.audit({ ...filters, before, limit: PAGE });
      state.setData((d) => (d ? { items: [...d.items, ...older.items], next: older.next } : older));
      setMore({ error: null, loading: false });
    } catch (e) {
      setMore({ error: e, loading: false });
    }
  };
  const [exportError, setExportError] = useState<unknown>(null);
  const exportLines = async (e: MouseEvent<HTMLAnchorElement>) => {
    // the link's own address needs the token, which only a fetch can send: the file is handed over as a blob
    e.preventDefault();
    setExportError(null);
    try {
      const url = URL.createObjectURL(await api.auditExport(filters));
      const a = document.createElement('a');
      a.href = url;
      a.download = 'fx-audit.jsonl';
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      setExportError(err);
    }
  };

  return (
    <Page id="audit" title="Audit log" what="the audit log" state={state}>
      {(page) => (
        <>
          <p className="muted">
            {user.admin ? 'Every recorded action, newest first.' : 'Actions on your things and actions you took, newest first.'} Entries are never changed or
            deleted.
          </p>
          <div className="filters" role="group" aria-label="Filter the audit log">
            <Choice
              label="Action"
              value={action}
              options={[['', 'any'], ...AuditAction.options.map((a): [string, string] => [a, a])]}
              onChange={(v) => {
                setAction(v);
                apply({ action: v });
              }}
            />
            <Choice
              label="Target type"
              value={targetType}
              options={[['', 'any'], ...AuditTargetType.options.map((t): [string, string] => [t, t])]}
              onChange={(v) => {
                setTargetType(v);
                apply({ targetType: v });
              }}
            />
            <Choice
              label="Since"
              value={String(since)}
              options={SINCE.map((x, i): [string, string] => [String(i), x.label])}
              onChange={(v) => {
                setSince(Number(v));
                apply({ since: Number(v) });
              }}
            />
            <a className="export" href={auditExportPath(filters)} download="fx-audit.jsonl" onClick={(e) => void exportLines(e)}>
              Export JSON lines
            </a>
          </div>
          {exportError ? <ErrorNote error={exportError} /> : null}
          {page.items.length === 0 ? <Empty title="No entries">Nothing recorded matches these filters.</Empty> : <AuditTable items={page.items} />}
          {more.error ? <ErrorNote error={more.error} /> : null}
          {page.next ? (
            <button type="button" disabled={more.loading} onClick={() => void loadOlder(page.next!)}>
              {more.loading ? 'Loading…' : 'Load older entries'}
            </button>
          ) : null}
        </>
      )}
    </Page>
  );
}

/** A labelled select of `[value, label]` options. */
function Choice({ label, value, options, onChange }: { label: string; value: string; options: Array<[string, string]>; onChange: (v: string) => void }) {
  return (
    <label>
      {label}
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        {options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
}

function AuditTable({ items }: { items: AuditEntry[] }) {
  return (
    <table className="table responsive" aria-label="Audit entries">
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">Who</th>
          <th scope="col">Action</th>
          <th scope="col">Target</th>
          <th scope="col">Details</th>
        </tr>
      </thead>
      <tbody>
        {items.map((e) => (
          <tr key={e.id} data-audit={e.action} data-target={e.target.id}>
            <td data-label="When">
              <When iso={e.at} />
            </td>
            <td data-label="Who">
              {e.actor.kind === 'system' ? (
                <span className="muted">the server</span>
              ) : (
                `${e.actor.kind === 'endpoint' ? 'endpoint ' : ''}${e.actor.name ?? e.actor.id}`
              )}
            </td>
            <td data-label="Action" className="mono">
              {e.action}
            </td>
            <td data-label="Target">
              <Target type={e.target.type} id={e.target.id} />
            </td>
            <td data-label="Details" className="mono small audit-details">
              {JSON.stringify(e.details)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A target, linked where the console has a page for it. */
function Target({ type, id }: { type: string; id: string }) {
  if (type === 'task') return <Link to={`/tasks/${id}`}>task {id.slice(0, 8)}</Link>;
  if (type === 'task-group') return <Link to={`/tasks?batchId=${id}`}>task group {id.slice(0, 8)}</Link>;
  return (
    <span title={id}>
      {type} <span className="mono">{id.slice(0, 8)}</span>
    </span>
  );
}
