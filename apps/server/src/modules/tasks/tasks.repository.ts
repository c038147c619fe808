import { Injectable } from '@nestjs/common';
import { SqlRepository } from '../../storage/sql.repository.js';
import type {
  LogChunk,
  ObjectRef,
  PickledValue,
  ProgressEvent,
  RemoteError,
  RetryPolicy,
  TaskOutput,
  TaskSerializer,
  TaskStatus,
  TaskTimings,
} from '@fx/protocol';
import type { RawRow } from '../../storage/raw-rows.js';
import { cachedFromOwner, type CachedSource } from './cached-source.js';
import { FINAL, agentStart, idsIn, json, lostOn, queuedColumns, submissionInsert, tasksOfFrame } from './task-sql.js';
import type { Task } from '../../generated/prisma/client.js';
import { auditRows, type NewAuditEntry } from '../audit/audit.repository.js';
import { outcomeFactsJson, type OutcomeFacts } from '../metrics/metrics.repository.js';
import { usageSteps } from '../accounting/usage-records.repository.js';
import type { UsageRow } from '../accounting/accounting-rows.js';
import { agentLineRows, agentLinesSteps, toStoredChunks, type StoredChunk, type StoredLine } from '../live/live.repository.js';
import { splitSubmitted, submissionRows, toQueueCounts, type HitRow, type NewTask, type QueueCounts, type ResultInput } from './task-records.js';

// The shapes it takes in live in task-records.ts; the modules that call it import them from here.
export { toQueueCounts, type HitRow, type NewTask, type QueueCounts, type ResultInput, type TaskCache } from './task-records.js';

/** The JSON columns, as FX stores them. */
export type TaskJson = { args: unknown[]; kwargs: Record<string, unknown>; result: unknown; error: RemoteError | null; output: TaskOutput | null };
/** How a task's arguments travel: a pickle task's are in pickled_args. */
export type TaskSerialized = { serializer: TaskSerializer; pickled_args: PickledValue | null };

export type TaskRow = RawRow<
  Task,
  | 'id'
  | 'owner_id'
  | 'function_id'
  | 'endpoint_id'
  | 'batch_id'
  | 'status'
  | 'attempt'
  | 'priority'
  | 'args'
  | 'kwargs'
  | 'serializer'
  | 'pickled_args'
  | 'result'
  | 'error'
  | 'output'
  | 'received_at'
  | 'ready_at'
  | 'waiting_at'
  | 'dispatched_at'
  | 'running_at'
  | 'completed_at'
  | 'lease_owner'
  | 'timings'
  | 'retry'
  | 'retries'
  | 'retry_at'
  | 'cached_from'
  | 'result_ref'
  | 'output_name'
  | 'endpoint_group_id'
  | 'progress'
  | 'progress_attempt'
  | 'progress_emitted',
  TaskJson &
    TaskSerialized & {
      result_ref: ObjectRef | null;
      status: TaskStatus;
      timings: (TaskTimings & { connectionId?: string | null; speculative?: boolean; endpointId?: string }) | null;
      retry: RetryPolicy | null;
      progress: ProgressEvent[] | null;
    }
>;

/** A final outcome as recorded, ready to publish to waiting clients. */
export type OutcomeRow = RawRow<
  Task,
  'id' | 'owner_id' | 'status' | 'result' | 'error' | 'output' | 'completed_at',
  Pick<TaskJson, 'result' | 'error' | 'output'> & { status: 'success' | 'failed' | 'cancelled'; completed_at: Date }
> &
  CachedSource & {
    /** set when its result is an object (absent from statements that only record failures) */ result_ref?: ObjectRef | null;
    /** its labels and durations for the metrics, where the statement that recorded it returned them */ facts?: OutcomeFacts;
    /** whether an edge to it was ever recorded, where the statement that recorded it returned it (mayHaveDependents) */
    has_dependents?: boolean;
  };

/** What recordResults records in the results' statement besides them. */
export type AlongResults = { usage?: UsageRow[]; lines?: { chunks: LogChunk[]; maxBytes: number } };
export type RecordedResults = { outcomes: OutcomeRow[]; lines: StoredChunk[] };

/** A task's state, as the status and result reads return it. */
type TaskHead = RawRow<Task, 'id' | 'owner_id' | 'status' | 'attempt', { status: TaskStatus }>;
/** Ids, queues, owners and priorities of tasks, for enqueueing (task-sql.ts's queuedColumns selects them). */
export type QueuedRow = RawRow<Task, 'id' | 'endpoint_id' | 'owner_id' | 'priority'>;

const ACTIVE = `('waiting-for-endpoint', 'dispatched', 'running')`;

/**
 * Every task statement is one SQL round trip for a whole batch (docs/design.md, hot path): no per-task
 * queries. This file and leases.repository.ts (leases: granted, extended, lost) are the only ones that
 * write the tasks table, with live.repository.ts for its live-stream columns only (progress, logs).
 */
@Injectable()
export class TasksRepository extends SqlRepository {
  /**
   * Inserts a whole submission in one statement; the caller replies only after this commits. A task
   * with inputs goes in waiting for them, and its edges go in with it, in the same statement: a
   * dependent is never stored without the edges that hold it back. `audit`: the submission's entry,
   * written by the same statement (AuditService.entries). Returns the ids of the memoized tasks that
   * went in waiting for their key's execution (those that hit went in completed).
   */
  async insertMany(ownerId: string, batchId: string | null, tasks: NewTask[], audit: NewAuditEntry[] = []): Promise<string[]> {
    return (await this.insertSubmission(ownerId, batchId, tasks, audit)).missed;
  }

  /** insertMany, with the outcomes of the memoized tasks that hit (completed at once) up to `inlineBytes` of results and output. */
  async insertSubmission(
    ownerId: string,
    batchId: string | null,
    tasks: NewTask[],
    audit: NewAuditEntry[],
    inlineBytes = 0,
  ): Promise<{ missed: string[]; hits: HitRow[] }> {
    const { rows, shared, shape } = submissionRows(tasks);
    const o = { ...shape, audit: audit.length > 0, inlineBytes };
    const params: unknown[] = [json(rows), ownerId, batchId, json(shared), ...(o.audit ? [auditRows(audit)] : [])];
    if (!o.memo) {
      await this.exec(submissionInsert(o), ...params);
      return { missed: [], hits: [] };
    }
    return splitSubmitted(await this.query<HitRow | { id: string; status: 'received' }>(submissionInsert(o), ...params));
  }

  async findById(id: string, onlyOwnedBy: string | null = null): Promise<(TaskRow & CachedSource) | null> {
    const sql = `SELECT *, ${cachedFromOwner('tasks')} FROM tasks WHERE id = $1::uuid AND ($2::uuid IS NULL OR owner_id = $2::uuid)`;
    return (await this.query<TaskRow & CachedSource>(sql, id, onlyOwnedBy))[0] ?? null;
  }

  findStatuses(ids: string[]): Promise<TaskHead[]> {
    return this.query(`SELECT id, owner_id, status, attempt FROM tasks WHERE id IN ${idsIn('$1')}`, json(ids));
  }

  /** Final outcomes among these ids, with owners, for a subscription's catch-up read. */
  findOutcomes(ids: string[]): Promise<Array<OutcomeRow | Omit<TaskHead, 'attempt'>>> {
    return this.query(
      `SELECT id, owner_id, status,
              CASE WHEN status IN ${FINAL} THEN result END AS result,
              CASE WHEN status IN ${FINAL} THEN error END AS error,
              CASE WHEN status IN ${FINAL} THEN output END AS output,
              CASE WHEN status IN ${FINAL} THEN result_ref END AS result_ref,
              completed_at, cached_from, ${cachedFromOwner('tasks')}
       FROM tasks WHERE id IN ${idsIn('$1')}`,
      json(ids),
    );
  }

  /** Status of each of these ids, with the size of a final task's outcome (for POST /v1/tasks/results). */
  findResultHeads(
    ids: string[],
  ): Promise<Array<TaskHead & RawRow<Task, 'completed_at' | 'serializer', Pick<TaskSerialized, 'serializer'>> & CachedSource & { bytes: number | null }>> {
    return this.query(
      `SELECT id, owner_id, status, attempt, completed_at, serializer, cached_from, ${cachedFromOwner('tasks')},
              CASE WHEN status IN ${FINAL} THEN (octet_length(COALESCE(result::text, '')) + octet_length(COALESCE(result_ref::text, ''))
                + octet_length(COALESCE(error::text, '')) + octet_length(COALESCE(output::text, '')))::int END AS bytes
       FROM tasks WHERE id IN ${idsIn('$1')}`,
      json(ids),
    );
  }

  /** Outcomes of these final tasks. */
  findResultBodies(
    ids: string[],
  ): Promise<
    Array<RawRow<Task, 'id' | 'result' | 'result_ref' | 'error' | 'output', Pick<TaskJson, 'result' | 'error' | 'output'> & { result_ref: ObjectRef | null }>>
  > {
    return this.query(`SELECT id, result, result_ref, error, output FROM tasks WHERE id IN ${idsIn('$1')} AND status IN ${FINAL}`, json(ids));
  }

  /**
   * Tasks leased to this connection start running. Ids of other connections, endpoints or states change
   * nothing (a forged or stale `started`); returns the ids that did change.
   */
  markRunning(endpointId: string, leaseOwner: string, started: Array<{ taskId: string; startedAt: number }>): Promise<Array<RawRow<Task, 'id' | 'owner_id'>>> {
    return this.query(
      `WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(task_id uuid, started_at float8)),
            locked AS MATERIALIZED (${tasksOfFrame('x', 'task_id', `endpoint_id = $2::uuid AND lease_owner = $3 AND status = 'dispatched'`)})
       UPDATE tasks t SET status = 'running', running_at = ${agentStart('x.started_at', 't.dispatched_at')}
       FROM x JOIN locked ON locked.id = x.task_id
       WHERE t.id = x.task_id AND t.status = 'dispatched'
       RETURNING t.id, t.owner_id`,
      json(started.map((s) => ({ task_id: s.taskId, started_at: s.startedAt }))),
      endpointId,
      leaseOwner,
    );
  }

  /**
   * Records final results, first one wins: rows already final are left alone, so a result sent twice
   * (agent reconnect, duplicate execution after a lease loss) is recorded once. Returns what changed.
   * Only tasks leased to this connection are recorded, and tasks of this endpoint waiting in its queue
   * that lost their lease on it (lostOn): this endpoint's agent ran them (one agent runs an endpoint at a
   * time), so the result is that agent's genuine work and taking it saves running the task again. A task
   * leased to another connection, of another endpoint, or moved here after losing its lease elsewhere (an
   * endpoint group's reroute or steal) is left alone. The same statement records
   * what came `also` (one round trip): the attempts' usage (usageSteps) and the agent's lines that came
   * before the results (agentLinesSteps, returned as stored); both see the leases before it ends them.
   * The outcomes come back with their metrics' facts (outcomeFactsJson), so the metrics look nothing up.
   */
  async recordResults(endpointId: string, leaseOwner: string, results: ResultInput[], also: AlongResults = {}): Promise<RecordedResults> {
    const rows = results.map((r) => ({
      id: r.taskId,
      status: r.status,
      // wrapped so that a JSON null result stays distinguishable from "no result"
      result: r.status === 'success' && !r.resultRef ? { v: r.result ?? null } : null,
      result_ref: r.status === 'success' && r.resultRef ? r.resultRef : null,
      error: r.error ?? null,
      output: r.output ?? null,
      timings: r.timings,
      started_at: r.timings.startedAt ?? null,
    }));
    const params: unknown[] = [json(rows), endpointId, leaseOwner];
    const param = (v: unknown) => `$${params.push(v)}`;
    const usage = also.usage?.length ? usageSteps({ rows: param(json(also.usage)), endpoint: '$2', leaseOwner: '$3' }) : null;
    const lines = also.lines?.chunks.length
      ? agentLinesSteps({ chunks: param(agentLineRows(also.lines.chunks)), endpoint: '$2', leaseOwner: '$3', maxBytes: param(also.lines.maxBytes), skip: 'x' })
      : null;
    // has_dependents as of the row's latest version (the lock waits for a submission writing it): mayHaveDependents
    const columns = ['t.id', 't.owner_id', 't.status', 't.result', 't.result_ref', 't.error', 't.output', 't.completed_at', 't.has_dependents'];
    const returning = [...columns, `${outcomeFactsJson('t')} AS facts`];
    // Rows are locked in id order, as extendLeases and markRunning lock theirs: statements over the
    // same tasks then queue behind each other instead of deadlocking.
    const update = `UPDATE tasks t SET status = x.status, result = x.result -> 'v', result_ref = x.result_ref, error = x.error, output = x.output,
              timings = x.timings || jsonb_build_object('connectionId', t.lease_owner),
              completed_at = now(), lease_owner = NULL, lease_expires_at = NULL,
              running_at = COALESCE(t.running_at, ${agentStart('x.started_at', 't.dispatched_at')})
              ${lines ? `, logs_truncated = t.logs_truncated OR l_trunc.task_id IS NOT NULL` : ''}
       FROM x JOIN locked ON locked.id = x.id ${lines ? 'LEFT JOIN l_trunc ON l_trunc.task_id = x.id' : ''}
       WHERE t.id = x.id AND t.status NOT IN ${FINAL}
       RETURNING ${returning.join(', ')}`;
    const steps = `WITH x AS (SELECT DISTINCT ON (id) * FROM jsonb_to_recordset($1::jsonb)
               AS r(id uuid, status text, result jsonb, result_ref jsonb, error jsonb, output jsonb, timings jsonb, started_at float8)),
            locked AS MATERIALIZED (${tasksOfFrame('x', 'id', `endpoint_id = $2::uuid AND (lease_owner = $3 OR (status = 'waiting-for-endpoint' AND ${lostOn('t', '$2')})) AND status NOT IN ${FINAL}`)})
            ${usage ? `, ${usage.steps}, u_ins AS (${usage.insert})` : ''}`;
    if (!lines) return { outcomes: await this.query<OutcomeRow>(`${steps} ${update}`, ...params), lines: [] };
    // the lines stored come back as one more row, the one without an id (a NULL for each column of `returning`)
    const out = await this.query<OutcomeRow & { lines: StoredLine[] | null }>(
      `${steps}, ${lines.steps}, l_upd AS (${lines.truncate}), upd AS (${update})
       SELECT upd.*, NULL::jsonb AS lines FROM upd UNION ALL SELECT ${'NULL, '.repeat(returning.length)} ${lines.stored}`,
      ...params,
    );
    return { outcomes: out.filter((r) => r.id !== null).map(({ lines: _, ...r }) => r), lines: toStoredChunks(out.find((r) => r.id === null)?.lines ?? []) };
  }

  /** Final outcomes of the last hour among these ids of this one endpoint (a resent result's stored outcome). */
  findFinalOutcomesOfEndpoint(endpointId: string, ids: string[]): Promise<OutcomeRow[]> {
    return this.query<OutcomeRow>(
      `SELECT id, owner_id, status, result, result_ref, error, output, completed_at FROM tasks
       WHERE id IN ${idsIn('$1')} AND endpoint_id = $2::uuid AND status IN ${FINAL} AND completed_at > now() - interval '1 hour'`,
      json(ids),
      endpointId,
    );
  }

  /** Fails tasks with a server-side error (e.g. an agent refused them); first final wins as above. */
  failMany(ids: string[], error: RemoteError): Promise<OutcomeRow[]> {
    return this.query<OutcomeRow>(
      `UPDATE tasks SET status = 'failed', error = $2::jsonb, completed_at = now(), lease_owner = NULL, lease_expires_at = NULL
       WHERE id IN ${idsIn('$1')} AND status NOT IN ${FINAL}
       RETURNING id, owner_id, status, result, error, output, completed_at`,
      json(ids),
      json(error),
    );
  }

  /** Cancels tasks not yet final; returns those cancelled, with the endpoint and the status they had. */
  cancel(ids: string[], ownerId: string | null): Promise<Array<OutcomeRow & RawRow<Task, 'endpoint_id'> & { previous: TaskStatus }>> {
    return this.query(
      `WITH prev AS (
         SELECT id, status AS previous FROM tasks
         WHERE id IN ${idsIn('$1')} AND status NOT IN ${FINAL} AND ($2::uuid IS NULL OR owner_id = $2::uuid)
         FOR UPDATE
       )
       UPDATE tasks t SET status = 'cancelled', completed_at = now(), lease_owner = NULL, lease_expires_at = NULL,
              error = jsonb_build_object('code', 'TASK_CANCELLED', 'name', 'TaskCancelled', 'message', 'the task was cancelled')
       FROM prev WHERE t.id = prev.id AND t.status NOT IN ${FINAL}
       RETURNING t.id, t.owner_id, t.status, t.result, t.error, t.output, t.completed_at, t.endpoint_id, prev.previous`,
      json(ids),
      ownerId,
    );
  }

  /** Every task waiting for an endpoint, oldest first, a keyset page at a time, for rebuilding queues. */
  waitingTasks(after: { receivedAt: Date; id: string } | null, limit: number): Promise<Array<QueuedRow & RawRow<Task, 'received_at'>>> {
    return this.query(
      `SELECT ${queuedColumns()}, received_at FROM tasks
       WHERE status = 'waiting-for-endpoint'
         AND ($1::timestamptz IS NULL OR (received_at, id) > ($1::timestamptz, $2::uuid))
       ORDER BY received_at, id LIMIT $3::int`,
      after?.receivedAt ?? null,
      after?.id ?? null,
      limit,
    );
  }

  async countsForEndpoint(endpointId: string): Promise<QueueCounts> {
    const rows = await this.query<RawRow<Task, 'status'> & { n: number | bigint }>(
      `SELECT status, count(*)::int AS n FROM tasks WHERE endpoint_id = $1::uuid AND status IN ${ACTIVE} GROUP BY status`,
      endpointId,
    );
    return toQueueCounts(rows);
  }

  /** Waiting, dispatched and running tasks of each endpoint, in one statement. */
  async countsByEndpoint(endpointIds: string[]): Promise<Map<string, QueueCounts>> {
    const out = new Map<string, QueueCounts>();
    if (endpointIds.length === 0) return out;
    const rows = await this.query<RawRow<Task, 'endpoint_id' | 'status'> & { n: number }>(
      `SELECT endpoint_id, status, count(*)::int AS n FROM tasks
       WHERE status IN ${ACTIVE} AND endpoint_id IN (SELECT value::uuid FROM jsonb_array_elements_text($1::jsonb))
       GROUP BY endpoint_id, status`,
      JSON.stringify(endpointIds),
    );
    const byEndpoint = new Map<string, typeof rows>(endpointIds.map((id) => [id, []]));
    for (const r of rows) byEndpoint.get(r.endpoint_id)?.push(r);
    for (const [id, of] of byEndpoint) out.set(id, toQueueCounts(of));
    return out;
  }

  /**
   * Results and errors are kept for the retention period, then the rows go, with their edges,
   * attempts and logs. A result still awaited by an unfinished dependent stays until that dependent ends.
   */
  async purgeCompletedBefore(cutoff: Date, limit = 10_000): Promise<number> {
    const rows = await this.query<{ n: number }>(
      `WITH gone AS (
         DELETE FROM tasks WHERE id IN (
           SELECT t.id FROM tasks t WHERE t.status IN ${FINAL} AND t.completed_at < $1::timestamptz
             AND NOT EXISTS (SELECT 1 FROM task_dependencies d JOIN tasks x ON x.id = d.task_id WHERE d.input_id = t.id AND x.status NOT IN ${FINAL})
           LIMIT $2::int)
         RETURNING id),
       edges AS (DELETE FROM task_dependencies WHERE task_id IN (SELECT id FROM gone) OR input_id IN (SELECT id FROM gone)),
       refs AS (DELETE FROM task_objects WHERE task_id IN (SELECT id FROM gone)),
       attempts AS (DELETE FROM task_attempts WHERE task_id IN (SELECT id FROM gone)),
       logs AS (DELETE FROM task_logs WHERE task_id IN (SELECT id FROM gone)),
       copies AS (DELETE FROM task_copies WHERE task_id IN (SELECT id FROM gone))
       SELECT count(*)::int AS n FROM gone`,
      cutoff,
      limit,
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** How many unfinished tasks the owner has, counting no further than `upTo` (the quota check). */
  async countOpenForOwner(ownerId: string, upTo: number): Promise<number> {
    const rows = await this.query<{ n: number | bigint }>(
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM tasks WHERE owner_id = $1::uuid AND status NOT IN ${FINAL} LIMIT $2::int) AS open`,
      ownerId,
      upTo,
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Fails tasks still waiting for their endpoint `ttlSeconds` after they were submitted (the queue TTL),
   * or, for a dependent, after its last input succeeded, or for a retry, after its backoff: waits
   * that are not for the endpoint do not count.
   */
  failWaitingOlderThan(ttlSeconds: number, error: RemoteError, limit = 10_000): Promise<OutcomeRow[]> {
    return this.query<OutcomeRow>(
      `UPDATE tasks SET status = 'failed', error = $2::jsonb, completed_at = now(), lease_owner = NULL, lease_expires_at = NULL
       WHERE id IN (SELECT id FROM tasks WHERE status = 'waiting-for-endpoint' AND COALESCE(retry_at, ready_at, received_at) < now() - $1::int * interval '1 second' LIMIT $3::int)
         AND status = 'waiting-for-endpoint'
       RETURNING id, owner_id, status, result, error, output, completed_at`,
      ttlSeconds,
      json(error),
      limit,
    );
  }

  /**
   * Fails the unfinished tasks of a deleted endpoint, but for those of a live endpoint group: they are
   * the group owner's (who may not be the endpoint's), and go to another member instead (the group's
   * reroute takes a waiting one; one the endpoint held comes back through its lease first).
   */
  failForEndpoint(endpointId: string, error: RemoteError): Promise<OutcomeRow[]> {
    return this.query<OutcomeRow>(
      `UPDATE tasks SET status = 'failed', error = $2::jsonb, completed_at = now(), lease_owner = NULL, lease_expires_at = NULL
       WHERE endpoint_id = $1::uuid AND status NOT IN ${FINAL}
         AND NOT EXISTS (SELECT 1 FROM endpoint_groups g WHERE g.id = tasks.endpoint_group_id AND g.deleted_at IS NULL)
       RETURNING id, owner_id, status, result, error, output, completed_at`,
      endpointId,
      json(error),
    );
  }
}
