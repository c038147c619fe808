import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { isFinalStatus, type ConsoleEndpoint, type FunctionInfo, type TaskChange, type TaskCounts, type TaskSummary, type UserInfo } from '@fx/protocol';
import type { TaskFilters } from '../../api';
import { useLiveEvents, useSession } from '../../app-context';
import { useThrottled } from '../../components';
import { useLocation } from '../../router';

const PAGE = 500;
/** The query parameters of /tasks that filter the list, in the order the form shows them. */
export const FILTER_KEYS = ['status', 'endpointId', 'functionId', 'ownerId', 'batchId', 'since', 'until'] as const;

/** Applies a live change to a row; a final row never goes back to a non-final state. */
export function applyChange(row: TaskSummary, c: TaskChange): TaskSummary {
  if (isFinalStatus(row.status) && !isFinalStatus(c.status)) return row;
  if (row.status === c.status && !c.completedAt) return row;
  return { ...row, status: c.status, completedAt: c.completedAt ?? row.completedAt, errorCode: c.errorCode ?? row.errorCode };
}

/** The filters in force: the page's query string. `filterKey` changes exactly when they do. */
export function useTaskFilters(): { filters: TaskFilters; filterKey: string } {
  const { search } = useLocation();
  const filters: TaskFilters = useMemo(() => {
    const f: TaskFilters = {};
    for (const k of FILTER_KEYS) {
      const v = search.get(k);
      if (v) f[k] = v;
    }
    return f;
  }, [search]);
  return { filters, filterKey: JSON.stringify(filters) };
}

/** What the filters offer and the table names: endpoints, functions, and for admins users. Best effort: a failure leaves a list empty. */
export function useTaskLookups() {
  const { api, user } = useSession();
  const [endpoints, setEndpoints] = useState<ConsoleEndpoint[]>([]);
  const [functions, setFunctions] = useState<FunctionInfo[]>([]);
  const [users, setUsers] = useState<UserInfo[]>([]);
  // the lists the console read only the head of (MAX_LISTED_*): the form says so
  const [cut, setCut] = useState<{ functions: boolean; users: boolean }>({ functions: false, users: false });
  useEffect(() => {
    api.endpoints().then(setEndpoints, () => undefined);
    api.functions().then(
      (f) => {
        setFunctions(f.items);
        setCut((c) => ({ ...c, functions: f.cut }));
      },
      () => undefined,
    );
    if (user.admin)
      api.users().then(
        (u) => {
          setUsers(u.items);
          setCut((c) => ({ ...c, users: u.cut }));
        },
        () => undefined,
      );
  }, [api, user.admin]);
  const epName = useMemo(() => new Map(endpoints.map((e) => [e.id, e.name])), [endpoints]);
  const fnName = useMemo(() => new Map(functions.map((f) => [f.id, f.name])), [functions]);
  return { endpoints, functions, users, cut, epName, fnName };
}

export type TaskLookups = ReturnType<typeof useTaskLookups>;

/**
 * The tasks that match `filters`, newest first, kept live: the first page with the server's counts,
 * further pages on demand (`loadMore`), live changes applied to the rows on screen, and new tasks
 * merged in from the newest page. A change of filters starts over; answers to older filters are dropped.
 */
export function useTaskList(filters: TaskFilters, filterKey: string) {
  const { api } = useSession();
  const [rows, setRows] = useState<TaskSummary[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const loadingMore = useRef(false);
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  const generation = useRef(0);

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
      .then((page) => {
        if (gen !== generation.current) return;
        setRows((cur) => {
          const seen = new Set(cur.map((r) => r.id));
          return [...cur, ...page.items.filter((r) => !seen.has(r.id))];
        });
        setCursor(page.nextCursor);
      }, setError)
      .finally(() => (loadingMore.current = false));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, cursor, filterKey]);

  // New tasks (ids not on screen) bring in the newest page at most once a second and merge it in.
  const refreshHead = useThrottled(() => {
    const gen = generation.current;
    api.tasks({ ...filters, limit: PAGE }).then(
      (page) => {
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
      },
      () => undefined,
    );
  }, 1000);

  // Live changes move tasks between states: the counts are read again, at most every 2 s.
  const refreshCounts = useThrottled(() => {
    const gen = generation.current;
    api.tasks({ ...filters, limit: 1, counts: 'true' }).then(
      (page) => {
        if (gen === generation.current && page.counts) setCounts(page.counts);
      },
      () => undefined,
    );
  }, 2000);

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

  return { rows, cursor, counts, loading, error, load, loadMore };
}
