import {
  DEFAULT_TASK_PRIORITY,
  type ObjectRef,
  type PickledValue,
  type RemoteError,
  type RetryPolicy,
  type TaskOutput,
  type TaskResources,
  type TaskSerializer,
  type TaskTimings,
} from '@fx/protocol';
import type { OutcomeRow } from './tasks.repository.js';

/**
 * What TasksRepository takes in (a submission's tasks, an agent's results) and the queue counts it
 * answers with: plain shapes, kept apart from the statements that use them.
 */

/** A new task row, as inserted by a submission. */
export interface NewTask {
  id: string;
  functionId: string;
  endpointId: string;
  /** Sent to this endpoint group: `endpointId` is the member chosen for it. */
  endpointGroupId?: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  /** What the task asks of its worker; absent: any worker. */
  resources?: TaskResources;
  /** Tasks whose results it takes (task-graph.ts): then it waits for them, its args holding references. */
  inputs?: string[];
  /** A pickle task's `(args, kwargs)` (its serializer is then `pickle`); absent: a json task. */
  pickledArgs?: PickledValue;
  /** 0–9 (absent: 5). */
  priority?: number;
  /** The retry policy it runs under (its own, or its function's); absent: none. */
  retry?: RetryPolicy;
  /** A memoized task's key, scope and entry TTL (modules/cache); absent: it runs every time. */
  cache?: TaskCache;
  /** The objects its arguments refer to (checked readable, references completed): its endpoint may fetch them. */
  objects?: ObjectRef[];
  /** The object name its result is stored under (a trigger's output); absent: a plain result. */
  outputName?: string;
  /**
   * Leased in the insert to this agent connection for `ms` (DirectLeaseService): it goes in dispatched,
   * with the columns LeasesRepository.grant sets, and is never queued. Absent: it goes in waiting.
   */
  lease?: { owner: string; ms: number };
}

/** A memoized task, as cache-key.ts made it; a dependent's key is null until it is ready (its inputs' results are part of it). */
export type TaskCache = { key: string | null; scope: string; ttlSeconds: number };

/**
 * The columns a submission's tasks usually have in common (one function on one endpoint, one priority,
 * one cache scope), with what each task has in that column. A column every task of the submission has
 * the same value in travels once, in the statement's shared row ($4), not in every task's row, and
 * submissionInsert reads each such column as the row's value, or else the shared one. PostgreSQL binds
 * the rows' parameter by parsing it whole and converts every field a row has: the bind of a 10,000-task
 * memoized batch took 45–76 ms this way instead of 157–160 ms.
 */
const SHARED = [
  ['function_id', (t: NewTask) => t.functionId],
  ['endpoint_id', (t: NewTask) => t.endpointId],
  ['endpoint_group_id', (t: NewTask) => t.endpointGroupId || undefined],
  ['serializer', (t: NewTask) => (t.pickledArgs ? 'pickle' : 'json')],
  ['priority', (t: NewTask) => t.priority ?? DEFAULT_TASK_PRIORITY],
  ['cache_scope', (t: NewTask) => t.cache?.scope],
  ['cache_ttl_seconds', (t: NewTask) => t.cache?.ttlSeconds],
  ['lease_owner', (t: NewTask) => t.lease?.owner],
  ['lease_ms', (t: NewTask) => t.lease?.ms],
] as const satisfies ReadonlyArray<readonly [string, (t: NewTask) => string | number | undefined]>;
export type SharedColumn = (typeof SHARED)[number][0];
/** The names of the columns a submission's tasks may share (submissionInsert reads them from the shared row). */
export const SHARED_COLUMNS: ReadonlySet<string> = new Set(SHARED.map(([column]) => column));
export type SharedRow = Partial<Record<SharedColumn, string | number>>;

/** The columns in which every task of `tasks` has one same value (none absent), with that value. */
export function sharedRow(tasks: NewTask[]): SharedRow {
  const shared: SharedRow = {};
  const first = tasks[0];
  if (!first) return shared;
  for (const [column, value] of SHARED) {
    const v = value(first);
    if (v !== undefined && tasks.every((t) => value(t) === v)) shared[column] = v;
  }
  return shared;
}

/**
 * A task as the submission's insert reads it (jsonb_to_recordset): a key left out reads as null, so only
 * what a task has is written, and a column of `shared` not at all (SHARED's columns through its table, so
 * that what a task has in such a column is written down once). Built by assignment, not conditional
 * spreads, which cost a 10,000-task batch a temporary object per absent field.
 */
export function insertRow(t: NewTask, shared: SharedRow = {}): Record<string, unknown> {
  const row: Record<string, unknown> = { id: t.id, args: t.args, kwargs: t.kwargs };
  for (const [column, value] of SHARED) {
    if (shared[column] !== undefined) continue;
    const v = value(t);
    if (v !== undefined) row[column] = v;
  }
  if (t.resources) row.resources = t.resources;
  if (t.pickledArgs) row.pickled_args = t.pickledArgs;
  if (t.retry) row.retry = t.retry;
  if (t.inputs?.length) row.inputs = t.inputs;
  if (t.cache) row.cache_key = t.cache.key;
  if (t.objects?.length) row.objects = t.objects.map((o) => o.id);
  if (t.outputName) row.output_name = t.outputName;
  return row;
}

/** A submission's rows for its insert, the columns they share, and the parts of the statement they need (submissionInsert). */
export function submissionRows(tasks: NewTask[]): {
  rows: Array<Record<string, unknown>>;
  shared: SharedRow;
  shape: { graph: boolean; refers: boolean; memo: boolean; leased: boolean };
} {
  const shared = sharedRow(tasks);
  const rows = tasks.map((t) => insertRow(t, shared));
  return {
    rows,
    shared,
    shape: { graph: rows.some((r) => r.inputs), refers: rows.some((r) => r.objects), memo: tasks.some((t) => t.cache), leased: tasks.some((t) => t.lease) },
  };
}

export type QueueCounts = { waiting: number; dispatched: number; running: number };

export function toQueueCounts(rows: Array<{ status: string; n: number | bigint }>): QueueCounts {
  const get = (s: string) => Number(rows.find((r) => r.status === s)?.n ?? 0);
  return { waiting: get('waiting-for-endpoint'), dispatched: get('dispatched'), running: get('running') };
}

export interface ResultInput {
  taskId: string;
  /** The attempt the agent ran (it echoes the dispatched one); absent for results the server makes up. */
  attempt?: number;
  status: 'success' | 'failed';
  result?: unknown;
  /** The result is this object (checked to hold this task's output); `result` is then absent. */
  resultRef?: ObjectRef;
  error?: RemoteError;
  output?: TaskOutput;
  timings: TaskTimings;
}

/** A memoized task the insert completed from the cache, as the submission's answer carries it. */
export type HitRow = OutcomeRow & { serializer: TaskSerializer };

/** A memoized submission's returned rows: the tasks that missed, and the hits within the answer's budget. */
export function splitSubmitted(rows: Array<HitRow | { id: string; status: 'received' }>): { missed: string[]; hits: HitRow[] } {
  const missed: string[] = [];
  const hits: HitRow[] = [];
  for (const r of rows) {
    if (r.status === 'received') missed.push(r.id);
    else hits.push(r);
  }
  return { missed, hits };
}
