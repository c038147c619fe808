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
  /** Ids of the objects its arguments refer to (checked readable, references completed): its endpoint may fetch them. */
  objects?: string[];
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
 * A task as the submission's insert reads it (jsonb_to_recordset): a key left out reads as null, so only
 * what a task has is written. Built by assignment, not conditional spreads, which cost a 10,000-task
 * batch a temporary object per absent field.
 */
export function insertRow(t: NewTask): Record<string, unknown> {
  const row: Record<string, unknown> = {
    id: t.id,
    function_id: t.functionId,
    endpoint_id: t.endpointId,
    args: t.args,
    kwargs: t.kwargs,
    serializer: t.pickledArgs ? 'pickle' : 'json',
    priority: t.priority ?? DEFAULT_TASK_PRIORITY,
  };
  if (t.endpointGroupId) row.endpoint_group_id = t.endpointGroupId;
  if (t.resources) row.resources = t.resources;
  if (t.pickledArgs) row.pickled_args = t.pickledArgs;
  if (t.retry) row.retry = t.retry;
  if (t.inputs?.length) row.inputs = t.inputs;
  if (t.cache) {
    row.cache_key = t.cache.key;
    row.cache_scope = t.cache.scope;
    row.cache_ttl_seconds = t.cache.ttlSeconds;
  }
  if (t.objects?.length) row.objects = t.objects;
  if (t.outputName) row.output_name = t.outputName;
  if (t.lease) {
    row.lease_owner = t.lease.owner;
    row.lease_ms = t.lease.ms;
  }
  return row;
}

/** A submission's rows for its insert, and the parts of the statement they need (submissionInsert). */
export function submissionRows(tasks: NewTask[]): {
  rows: Array<Record<string, unknown>>;
  shape: { graph: boolean; refers: boolean; memo: boolean; leased: boolean };
} {
  const rows = tasks.map(insertRow);
  return {
    rows,
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
