import { useState, type MouseEvent } from 'react';
import { AuditAction, AuditTargetType, type AuditEntry } from '@fx/protocol';
import { auditExportPath, type AuditFilters } from '../api';
import { useSession } from '../app-context';
import { Empty, ErrorNote, saveBlob, When } from '../components';
import { SelectField, type Option } from '../fields';
import { Page, useAction, usePageData } from '../page';
import { Link } from '../router';
import { Table, type Column } from '../table';

/** "Since" choices: how far back from now. */
const SINCE: Array<{ label: string; ms: number | null }> = [
  { label: 'any time', ms: null },
  { label: 'the last hour', ms: 3_600_000 },
  { label: 'the last day', ms: 86_400_000 },
  { label: 'the last 7 days', ms: 7 * 86_400_000 },
  { label: 'the last 30 days', ms: 30 * 86_400_000 },
];
const PAGE = 100;

/** The choices the filter selects hold; `since` is an index into SINCE. */
type Choices = { action: string; targetType: string; since: string };
const CHOICES: Array<{ key: keyof Choices; label: string; options: Option[] }> = [
  { key: 'action', label: 'Action', options: [{ value: '', label: 'any' }, ...AuditAction.options.map((a) => ({ value: a, label: a }))] },
  { key: 'targetType', label: 'Target type', options: [{ value: '', label: 'any' }, ...AuditTargetType.options.map((t) => ({ value: t, label: t }))] },
  { key: 'since', label: 'Since', options: SINCE.map((x, i) => ({ value: String(i), label: x.label })) },
];

/** The query the choices mean now: "since" becomes an instant. */
function toFilters({ action, targetType, since }: Choices): AuditFilters {
  const ms = SINCE[Number(since)]!.ms;
  return { ...(action ? { action } : {}), ...(targetType ? { targetType } : {}), ...(ms ? { since: new Date(Date.now() - ms).toISOString() } : {}) };
}

/**
 * The audit log, newest first: an admin sees every entry, anyone else what concerns their things and
 * what they did. Filters by action, target type and age; older entries page in; the export saves every
 * matching entry as JSON lines.
 */
export function Audit() {
  const { api, user } = useSession();
  const [choices, setChoices] = useState<Choices>({ action: '', targetType: '', since: '0' });
  // fixed when a filter changes, so that "older" pages and the export mean the same window
  const [filters, setFilters] = useState<AuditFilters>({});
  const choose = (key: keyof Choices, value: string) => {
    const next = { ...choices, [key]: value };
    setChoices(next);
    setFilters(toFilters(next));
  };
  const state = usePageData(() => api.audit({ ...filters, limit: PAGE }), [api, filters]);
  const older = useAction();
  const loadOlder = (before: string) =>
    older.run(async () => {
      const page = await api.audit({ ...filters, before, limit: PAGE });
      state.setData((d) => (d ? { items: [...d.items, ...page.items], next: page.next } : page));
    });
  const exporting = useAction();
  const exportLines = (e: MouseEvent<HTMLAnchorElement>) => {
    // the link's own address needs the token, which only a fetch can send: the file is handed over as a blob
    e.preventDefault();
    void exporting.run(async () => saveBlob(await api.auditExport(filters), 'fx-audit.jsonl'));
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
            {CHOICES.map((c) => (
              <SelectField key={c.key} label={c.label} value={choices[c.key]} options={c.options} onChange={(e) => choose(c.key, e.target.value)} />
            ))}
            <a className="export" href={auditExportPath(filters)} download="fx-audit.jsonl" onClick={exportLines}>
              Export JSON lines
            </a>
          </div>
          {exporting.error ? <ErrorNote error={exporting.error} /> : null}
          <Table
            rows={page.items}
            columns={COLUMNS}
            label="Audit entries"
            rowKey={(e) => e.id}
            rowAttributes={(e) => ({ 'data-audit': e.action, 'data-target': e.target.id })}
            empty={<Empty title="No entries">Nothing recorded matches these filters.</Empty>}
          />
          {older.error ? <ErrorNote error={older.error} /> : null}
          {page.next ? (
            <button type="button" disabled={older.pending} onClick={() => void loadOlder(page.next!)}>
              {older.pending ? 'Loading…' : 'Load older entries'}
            </button>
          ) : null}
        </>
      )}
    </Page>
  );
}

const COLUMNS: Array<Column<AuditEntry>> = [
  { label: 'When', cell: (e) => <When iso={e.at} /> },
  {
    label: 'Who',
    cell: (e) =>
      e.actor.kind === 'system' ? <span className="muted">the server</span> : `${e.actor.kind === 'endpoint' ? 'endpoint ' : ''}${e.actor.name ?? e.actor.id}`,
  },
  { label: 'Action', className: 'mono', cell: (e) => e.action },
  { label: 'Target', cell: (e) => <Target type={e.target.type} id={e.target.id} /> },
  { label: 'Details', className: 'mono small audit-details', cell: (e) => JSON.stringify(e.details) },
];

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
