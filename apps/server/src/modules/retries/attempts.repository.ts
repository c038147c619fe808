import { Injectable } from '@nestjs/common';
import type { RemoteError, RetryPolicy, TaskStatus } from '@fx/protocol';
import { SqlRepository } from '../../storage/sql.repository.js';
import type { RawRow } from '../../storage/raw-rows.js';
import type { Task, TaskAttempt } from '../../generated/prisma/client.js';
import type { QueuedRow } from '../tasks/tasks.repository.js';
import { HELD, agentStart, json, queuedColumns, tasksOfFrame } from '../tasks/task-sql.js';

/** An attempt that ended without ending its task, as stored. */
export type AttemptRow = RawRow<
  TaskAttempt,
  | 'task_id'
  | 'number'
  | 'status'
  | 'endpoint_id'
  | 'connection_id'
  | 'worker_id'
  | 'queued_at'
  | 'dispatched_at'
  | 'started_at'
  | 'ended_at'
  | 'error'
  | 'retry_at'
  | 'speculative',
  { error: RemoteError | null }
>;

/** What the retry decision needs of a task a failed result names. */
export type RetryCandidate = RawRow<Task, 'id' | 'status' | 'lease_owner' | 'attempt' | 'retries' | 'retry', { status: TaskStatus; retry: RetryPolicy }> & {
  /** The attempt the result is of was retried already: a resend of a result recorded before. */
  retried_since: boolean;
};

/** A failed attempt to run again: the attempt it is (the agent echoes it), when, and how it failed. */
export interface RetryInput {
  taskId: string;
  attempt: number;
  delayMs: number;
  error: RemoteError;
  workerId: string | null;
  startedAt: number | null;
}

/**
 * The task_attempts table and the statements that move a task between attempts on a retry. A lost
 * lease archives its attempt in leases.repository.ts, in the statement that requeues it.
 */
@Injectable()
export class AttemptsRepository extends SqlRepository {
  /** The tasks with a retry policy among these failed results, with what the decision reads. */
  candidates(results: Array<{ taskId: string; attempt: number }>): Promise<RetryCandidate[]> {
    return this.query(
      `WITH x AS (SELECT DISTINCT ON (id) * FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, attempt int))
       SELECT t.id, t.status, t.lease_owner, t.attempt, t.retries, t.retry,
              EXISTS (SELECT 1 FROM task_attempts a WHERE a.task_id = t.id AND a.number > x.attempt AND a.status = 'retried') AS retried_since
       FROM tasks t JOIN x ON x.id = t.id WHERE t.retry IS NOT NULL`,
      json(results.map((r) => ({ id: r.taskId, attempt: r.attempt }))),
    );
  }

  /**
   * Failed attempts that are run again: each, still leased to this connection and still the attempt
   * the agent ran, is archived as `retried` and its task waits for the backoff (`waiting-for-retry`,
   * `retry_at`), with a fresh timeline for the next attempt. One statement; returns the tasks moved.
   */
  scheduleRetries(endpointId: string, leaseOwner: string, inputs: RetryInput[]): Promise<Array<QueuedRow & RawRow<Task, 'retry_at'>>> {
    const rows = inputs.map((r) => ({
      id: r.taskId,
      attempt: r.attempt,
      delay_ms: r.delayMs,
      error: r.error,
      worker_id: r.workerId,
      started_at: r.startedAt,
    }));
    return this.query(
      `WITH x AS (SELECT DISTINCT ON (id) * FROM jsonb_to_recordset($1::jsonb)
               AS r(id uuid, attempt int, delay_ms int, error jsonb, worker_id text, started_at float8)),
            old AS MATERIALIZED (${tasksOfFrame('x', 'id', `t.endpoint_id = $2::uuid AND t.lease_owner = $3 AND t.status IN ${HELD}`, {
              columns: 't.id, t.attempt, t.endpoint_id, t.lease_owner, t.waiting_at, t.dispatched_at, t.running_at',
            })}),
            moved AS (
              UPDATE tasks t SET status = 'waiting-for-retry', attempt = t.attempt + 1, retries = t.retries + 1,
                     retry_at = now() + x.delay_ms * interval '1 millisecond', lease_owner = NULL, lease_expires_at = NULL,
                     waiting_at = NULL, dispatched_at = NULL, running_at = NULL
              FROM x JOIN old ON old.id = x.id AND old.attempt = x.attempt
              WHERE t.id = x.id
              RETURNING t.id, t.endpoint_id, t.owner_id, t.priority, t.retry_at),
            archived AS (
              INSERT INTO task_attempts (task_id, number, status, endpoint_id, connection_id, worker_id, queued_at, dispatched_at, started_at, ended_at, error, retry_at)
              SELECT old.id, old.attempt + 1, 'retried', old.endpoint_id, old.lease_owner, x.worker_id, old.waiting_at, old.dispatched_at,
                     COALESCE(old.running_at, ${agentStart('x.started_at', 'old.dispatched_at')}), now(), x.error, moved.retry_at
              FROM old JOIN x ON x.id = old.id JOIN moved ON moved.id = old.id
              ON CONFLICT DO NOTHING)
       SELECT id, endpoint_id, owner_id, priority, retry_at FROM moved`,
      json(rows),
      endpointId,
      leaseOwner,
    );
  }

  /**
   * Tasks whose backoff has passed join their endpoint's queue. A conditional UPDATE: replicas racing
   * (or a timer and a sweep) move each task once, and only the one whose UPDATE returned it enqueues it.
   */
  promoteDue(limit = 10_000): Promise<QueuedRow[]> {
    return this.query(
      `UPDATE tasks SET status = 'waiting-for-endpoint', waiting_at = now()
       WHERE id IN (SELECT id FROM tasks WHERE status = 'waiting-for-retry' AND retry_at <= now() ORDER BY retry_at LIMIT $1::int FOR UPDATE SKIP LOCKED)
         AND status = 'waiting-for-retry'
       RETURNING ${queuedColumns()}`,
      limit,
    );
  }

  /** When the next backoff ends, of any task (null: none waits). */
  async nextDue(): Promise<Date | null> {
    return (await this.nextRetry())?.at ?? null;
  }

  /** The next backoff to end, and whether it already has by the database's clock (the one promoteDue goes by); null: none waits. */
  async nextRetry(): Promise<{ at: Date; due: boolean } | null> {
    const rows = await this.query<{ at: Date | null; due: boolean | null }>(
      `SELECT min(retry_at) AS at, min(retry_at) <= now() AS due FROM tasks WHERE status = 'waiting-for-retry'`,
    );
    const at = rows[0]?.at;
    return at ? { at, due: rows[0]?.due === true } : null;
  }

  /** The latest `limit` archived attempts of a task, oldest first. */
  /**
   * The latest `limit` archived attempts of a task, oldest first, and its speculative copy while that
   * runs (shown as an attempt sharing the number of the one it runs alongside; ended_at is then null).
   */
  async forTask(taskId: string, limit: number): Promise<AttemptRow[]> {
    const rows = await this.query<AttemptRow>(
      `SELECT * FROM (
         SELECT task_id, number, status, endpoint_id, connection_id, worker_id, queued_at, dispatched_at, started_at, ended_at, error, retry_at, speculative, placement
         FROM task_attempts WHERE task_id = $1::uuid
         UNION ALL
         SELECT task_id, attempt + 1, CASE status WHEN 'queued' THEN 'waiting-for-endpoint' ELSE status END, endpoint_id, connection_id, worker_id,
                launched_at, dispatched_at, started_at, ended_at, error, NULL, true, placement
         FROM task_copies WHERE task_id = $1::uuid AND status IN ('queued', 'dispatched', 'running')) a
       ORDER BY number DESC, speculative DESC, placement DESC LIMIT $2::int`,
      taskId,
      limit,
    );
    return rows.reverse();
  }
}
