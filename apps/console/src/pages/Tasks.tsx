import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { isFinalStatus, TaskStatus, type ConsoleEndpoint, type FunctionInfo, type TaskChange, type TaskCounts, type TaskSummary, type UserInfo } from '@fx/protocol';
import type { TaskFilters } from '../api';
import { useLiveEvents, useSession } from '../app-context';
import { Empty, ErrorNote, shortId, StatusBadge, VirtualList, When } from '../components';
import { Link, navigate, useLocation } from '../router';

const PAGE = 500;
const ROW = 44;
const FILTER_KEYS = ['status', 'endpointId', 'functionId', 'ownerId', 'since', 'until'] as const;

/** datetime-local values are local time without a zone; the API wants ISO 8601 with one. */
const toIso = (local: string) => (local ? new Date(local).toISOString() : undefined);
const toLocal = (iso: string | null) => {
  if (!iso) return '';
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

/** Applies a live change to a row; a final row never goes back to a non-final state. */
export function applyChange(row: TaskSummary, c: TaskChange): TaskSummary {
  if (isFinalStatus(row.status) && !isFinalStatus(c.status)) return row;
  if (row.status === c.status && !c.completedAt) return row;
  return { ...row, status: c.status, completedAt: c.completedAt ?? row.completedAt, errorCode: c.errorCode ?? row.errorCode };
}

export function Tasks() {
  const { api, user } = useSession();
  const { search } = useLocation();
  const filters: TaskFilters = useMemo(() => {
    const f: TaskFilters = {};
    for (const k of FILTER_KEYS) {
      const v = search.get(k);
      if (v) f[k] = v;
    }
    return f;
  }, [search]);
  const filterKey = JSON.stringify(filters);

  const [rows, setRows] = useState<TaskSummary[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const loadingMore = useRef(false);
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  const generation = useRef(0);

  const [endpoints, setEndpoints] = useState<ConsoleEndpoint[]>([]);
  const [functions, setFunctions] = useState<FunctionInfo[]>([]);
  const [users, setUsers] = useState<UserInfo[]>([]);
  useEffect(() => {
    api.endpoints().then(setEndpoints, () => undefined);
    api.functions().then(setFunctions, () => undefined);
    if (user.admin) api.users().then(setUsers, () => undefined);
  }, [api, user.admin]);

  // counts come from the server (every task that matches the filters), never from the rows loaded so far
  const [counts, setCounts] = useState<TaskCounts | null>(null);
  const load = useCallback(() => {
    const gen = ++generation.current;
    setLoading(true);
    setCounts(null);
    api.tasks({ ...filters, limit: PAGE, counts: 'true' }).then(
      (page) => {
        if (gen !== generation.current) return;
        setRows(page.items);
        setCursor(page.nextCursor);
        setCounts(page.counts ?? null);
        setError(null);
        setLoading(false);
      },
      (e) => {
        if (gen !== generation.current) return;
        setError(e);
        setLoading(false);
      },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, filterKey]);
  useEffect(load, [load]);

  const loadMore = useCallback(() => {
    if (!cursor || loadingMore.current) return;
    loadingMore.current = true;
    const gen = generation.current;
    api
      .tasks({ ...filters, limit: PAGE, cursor })
      .then(
        (page) => {
          if (gen !== generation.current) return;
          setRows((cur) => {
            const seen = new Set(cur.map((r) => r.id));
            return [...cur, ...page.items.filter((r) => !seen.has(r.id))];
          });
          setCursor(page.nextCursor);
        },
        setError,
      )
      .finally(() => (loadingMore.current = false));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, cursor, filterKey]);

  // New tasks (ids not on screen) bring in the newest page at most once a second and merge it in.
  const headTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const refreshHead = useCallback(() => {
    if (headTimer.current) return;
    headTimer.current = setTimeout(() => {
      headTimer.current = null;
      const gen = generation.current;
      api.tasks({ ...filters, limit: PAGE }).then((page) => {
        if (gen !== generation.current) return;
        // a full page that shares no row with the table leaves a gap behind it: start over from it
        const known = new Set(rowsRef.current.map((r) => r.id));
        if (page.nextCursor && !page.items.some((r) => known.has(r.id))) {
          setRows(page.items);
          setCursor(page.nextCursor);
          return;
        }
        setRows((cur) => {
          const byId = new Map(cur.map((r) => [r.id, r]));
          const fresh = page.items.filter((r) => !byId.has(r.id));
          for (const r of page.items) if (byId.has(r.id)) byId.set(r.id, r);
          const merged = [...fresh, ...cur.map((r) => byId.get(r.id)!)];
          merged.sort((a, b) => (a.receivedAt === b.receivedAt ? b.id.localeCompare(a.id) : b.receivedAt.localeCompare(a.receivedAt)));
          return merged;
        });
      }, () => undefined);
    }, 1000);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, filterKey]);
  useEffect(() => () => clearTimeout(headTimer.current ?? undefined), []);

  // Live changes move tasks between states: the counts are read again, at most every 2 s.
  const countsTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const refreshCounts = useCallback(() => {
    if (countsTimer.current) return;
    countsTimer.current = setTimeout(() => {
      countsTimer.current = null;
      const gen = generation.current;
      api.tasks({ ...filters, limit: 1, counts: 'true' }).then((page) => {
        if (gen === generation.current && page.counts) setCounts(page.counts);
      }, () => undefined);
    }, 2000);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, filterKey]);
  useEffect(() => () => clearTimeout(countsTimer.current ?? undefined), []);

  const statuses = filters.status?.split(',');
  useLiveEvents((e) => {
    if (e.overflow || e.tasks.length) refreshCounts();
    if (e.overflow) return refreshHead();
    if (!e.tasks.length) return;
    const known = new Set(rowsRef.current.map((r) => r.id));
    // a new task that may match the filters brings in the newest page
    const unknown =
      !filters.until &&
      e.tasks.some(
        (c) =>
          !known.has(c.id) &&
          (!statuses || statuses.includes(c.status)) &&
          !(filters.endpointId && c.endpointId && c.endpointId !== filters.endpointId) &&
          !(filters.ownerId && c.ownerId && c.ownerId !== filters.ownerId),
      );
    if (e.tasks.some((c) => known.has(c.id))) {
      const changes = new Map(e.tasks.map((t) => [t.id, t]));
      setRows((cur) => {
        let changed = false;
        const next = cur.map((r) => {
          const c = changes.get(r.id);
          if (!c) return r;
          const n = applyChange(r, c);
          if (n !== r) changed = true;
          return n;
        });
        return changed ? next : cur;
      });
    }
    if (unknown) refreshHead();
  });

  const epName = useMemo(() => new Map(endpoints.map((e) => [e.id, e.name])), [endpoints]);
  const fnName = useMemo(() => new Map(functions.map((f) => [f.id, f.name])), [functions]);

  const setFilter = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const p = new URLSearchParams();
    for (const k of FILTER_KEYS) {
      let v = String(form.get(k) ?? '');
      if (k === 'since' || k === 'until') v = toIso(v) ?? '';
      if (v) p.set(k, v);
    }
    const q = p.toString();
    navigate(`/tasks${q ? `?${q}` : ''}`);
  };

  return (
    <section aria-labelledby="tasks-title" className="tasks-page">
      <h1 id="tasks-title">Tasks</h1>
      <form
        className="filters"
        onSubmit={setFilter}
        // re-mounted when the filters or the option lists change, so the selects show the filters in force
        key={`${filterKey}/${endpoints.length}/${functions.length}/${users.length}`}
        aria-label="Filter tasks"
      >
        <label>
          State
          <select name="status" defaultValue={filters.status ?? ''}>
            <option value="">any</option>
            {TaskStatus.options.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
            {filters.status && !TaskStatus.options.includes(filters.status as never) && <option value={filters.status}>{filters.status}</option>}
          </select>
        </label>
        <label>
          Endpoint
          <select name="endpointId" defaultValue={filters.endpointId ?? ''}>
            <option value="">any</option>
            {endpoints.map((e) => (
              <option key={e.id} value={e.id}>
                {e.name}
              </option>
            ))}
            {filters.endpointId && !epName.has(filters.endpointId) && <option value={filters.endpointId}>{shortId(filters.endpointId)}</option>}
          </select>
        </label>
        <label>
          Function
          <select name="functionId" defaultValue={filters.functionId ?? ''}>
            <option value="">any</option>
            {functions.map((f) => (
              <option key={f.id} value={f.id}>
                {f.name}
              </option>
            ))}
            {filters.functionId && !fnName.has(filters.functionId) && <option value={filters.functionId}>{shortId(filters.functionId)}</option>}
          </select>
        </label>
        {user.admin && (
          <label>
            Owner
            <select name="ownerId" defaultValue={filters.ownerId ?? ''}>
              <option value="">anyone</option>
              {users.map((u) => (
                <option key={u.id} value={u.id}>
                  {u.name}
                </option>
              ))}
            </select>
          </label>
        )}
        <label>
          From
          <input type="datetime-local" name="since" defaultValue={toLocal(filters.since ?? null)} />
        </label>
        <label>
          To
          <input type="datetime-local" name="until" defaultValue={toLocal(filters.until ?? null)} />
        </label>
        <div className="filter-buttons">
          <button type="submit" className="primary">
            Apply
          </button>
          <button type="button" onClick={() => navigate('/tasks')}>
            Clear
          </button>
        </div>
      </form>
      {error ? <ErrorNote error={error} onRetry={load} /> : null}
      <p className="muted summary" aria-live="polite" data-testid="task-counts">
        {loading || !counts
          ? 'Loading tasks…'
          : `${counts.total.toLocaleString('en-US')}${counts.capped ? '+' : ''} tasks` +
            (counts.total
              ? ` · ${TaskStatus.options
                  .filter((s) => counts.byStatus[s])
                  .map((s) => `${counts.byStatus[s]!.toLocaleString('en-US')} ${s === 'waiting-for-endpoint' ? 'waiting' : s}`)
                  .join(' · ')}`
              : '') +
            (rows.length < counts.total ? ` · ${rows.length.toLocaleString('en-US')} loaded` : '')}
      </p>
      {!loading && rows.length === 0 && !error ? (
        <Empty title="No tasks match">{Object.keys(filters).length ? 'Clear the filters to see every task you may see.' : 'Submit tasks with the SDK; they appear here as they arrive.'}</Empty>
      ) : (
        <div className="task-table" role="table" aria-label="Tasks" aria-rowcount={rows.length}>
          <div className="task-row task-head" role="row">
            <span role="columnheader">Task</span>
            <span role="columnheader">State</span>
            <span role="columnheader" className="col-wide">
              Function
            </span>
            <span role="columnheader" className="col-wide">
              Endpoint
            </span>
            <span role="columnheader" className="col-wide">
              Received
            </span>
            <span role="columnheader" className="col-mid">
              Error
            </span>
          </div>
          <VirtualList
            items={rows}
            rowHeight={ROW}
            label="Task rows"
            onNearEnd={cursor ? loadMore : undefined}
            render={(t) => (
              <Link to={`/tasks/${t.id}`} className="task-row" role="row" data-task={t.id} data-status={t.status}>
                <span role="cell" className="mono">
                  {shortId(t.id)}
                </span>
                <span role="cell">
                  <StatusBadge status={t.status} />
                </span>
                <span role="cell" className="col-wide">
                  {fnName.get(t.functionId) ?? shortId(t.functionId)}
                </span>
                <span role="cell" className="col-wide">
                  {epName.get(t.endpointId) ?? shortId(t.endpointId)}
                </span>
                <span role="cell" className="col-wide">
                  <When iso={t.receivedAt} />
                </span>
                <span role="cell" className="col-mid error-cell">
                  {t.errorCode ?? ''}
                </span>
              </Link>
            )}
          />
        </div>
      )}
    </section>
  );
}
