import { Injectable } from '@nestjs/common';
import type { Speculation } from '@fx/protocol';
import { SqlRepository } from '../../storage/sql.repository.js';
import type { RawRow } from '../../storage/raw-rows.js';
import type { Task, TaskCopy, TaskGroup } from '../../generated/prisma/client.js';
import type { DispatchedRow } from '../leases/leases.repository.js';
import type { OutcomeRow, ResultInput } from '../tasks/tasks.repository.js';
import { FINAL, HELD, agentStart, stillMember, checkedObjects, idsIn, isolatesFor, json } from '../tasks/task-sql.js';
import { COPY_ACTIVE, COPY_SENT, REFUSAL_CODES, REFUSED, archive, leaseLost } from './copy-sql.js';

export { COPY_ACTIVE, COPY_SENT, MAX_COPY_PLACEMENTS } from './copy-sql.js';

/** A group the sweep looks at, with what it asked for. */
export type SpeculatingGroup = RawRow<TaskGroup, 'id' | 'speculation', { speculation: Speculation }>;
/** A running task of an idempotent function that ran too long, and where it runs. */
export type Straggler = RawRow<Task, 'id' | 'owner_id' | 'serializer' | 'attempt' | 'endpoint_id' | 'endpoint_group_id' | 'function_id' | 'resources'>;
/** A copy that ended without winning: who held it, to tell its agent to stop it. */
export type EndedCopy = RawRow<TaskCopy, 'task_id' | 'endpoint_id' | 'connection_id' | 'status'>;
/** A task a copy's result completed, and the original attempt it superseded (to cancel). */
export type CopyWin = OutcomeRow & { endpoint_id: string; superseded_owner: string | null };

/**
 * Speculative copies (issue 16): the task_copies table (one copy per task, with its own lease; placed
 * again only where a member refused it before it ran, see CopyPlacementsRepository) and the statements
 * that launch, lease, complete and end copies. Every statement is conditional, so replicas racing (two
 * sweeps, a sweep and a results frame) move each copy once.
 */
@Injectable()
export class CopiesRepository extends SqlRepository {
  /**
   * Whether the sweep has anything to look at: a copy that has not ended or may be placed again, or a
   * group that asks for speculation. One read of two partial indexes, so that an idle replica's sweep is one statement, not three.
   */
  async anyActive(): Promise<boolean> {
    const rows = await this.query<{ any: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM task_copies WHERE status IN ${COPY_ACTIVE}) OR EXISTS (SELECT 1 FROM task_copies c WHERE ${REFUSED('c')})
              OR EXISTS (SELECT 1 FROM task_groups WHERE speculating_since IS NOT NULL) AS any`,
    );
    return rows[0]?.any === true;
  }

  /**
   * Up to `limit` groups that asked for speculation and were joined by tasks lately (see migration
   * 20261218003000_speculation), in id order after `after` (a page of the sweep's round), each with
   * whether a task of it runs now (only those can have stragglers).
   */
  speculatingGroups(after: string | null, limit: number): Promise<Array<SpeculatingGroup & { running: boolean }>> {
    return this.query(
      `SELECT g.id, g.speculation, EXISTS (SELECT 1 FROM tasks t WHERE t.batch_id = g.id AND t.status = 'running') AS running
       FROM task_groups g WHERE g.speculating_since IS NOT NULL AND ($1::uuid IS NULL OR g.id > $1::uuid)
       ORDER BY g.id LIMIT $2::int`,
      after,
      limit,
    );
  }

  /** Of these groups, those with nothing left to copy (no unfinished task, and none joined for `quietMs`): the sweep stops looking at them. */
  async settleGroups(ids: string[], quietMs: number): Promise<void> {
    if (ids.length === 0) return;
    await this.query(
      `UPDATE task_groups g SET speculating_since = NULL
       WHERE g.id IN ${idsIn('$1')} AND g.speculating_since < now() - $2::int * interval '1 millisecond'
         AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.batch_id = g.id AND t.status NOT IN ${FINAL})`,
      json(ids),
      quietMs,
    );
  }

  /**
   * Running tasks of the group's idempotent functions without a copy, that have run `afterFactor` times
   * the median runtime (running → completed) of its succeeded tasks, once `minSamples` succeeded.
   * Memoized tasks never ran: they are no sample.
   */
  stragglers(groupId: string, s: Speculation, limit: number): Promise<Straggler[]> {
    return this.query(
      `WITH samples AS (
         SELECT count(*)::int AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - running_at)) AS median
         FROM tasks WHERE batch_id = $1::uuid AND status = 'success' AND cached_from IS NULL
           AND running_at IS NOT NULL AND completed_at IS NOT NULL)
       SELECT t.id, t.owner_id, t.serializer, t.attempt, t.endpoint_id, t.endpoint_group_id, t.function_id, t.resources FROM tasks t JOIN functions f ON f.id = t.function_id CROSS JOIN samples s
       WHERE t.batch_id = $1::uuid AND t.status = 'running' AND f.idempotent AND s.n >= $3::int
         AND extract(epoch FROM now() - t.running_at) > $2::float8 * s.median
         AND NOT EXISTS (SELECT 1 FROM task_copies c WHERE c.task_id = t.id)
       ORDER BY t.running_at LIMIT $4::int`,
      groupId,
      s.afterFactor,
      s.minSamples,
      limit,
    );
  }

  /** Launches copies: the primary key makes each task's one copy, whichever replica inserts it first. Returns those launched. */
  launch(copies: Array<{ taskId: string; attempt: number; endpointId: string }>): Promise<Array<RawRow<TaskCopy, 'task_id' | 'endpoint_id'>>> {
    return this.query(
      `INSERT INTO task_copies (task_id, attempt, endpoint_id)
       SELECT x.task_id, x.attempt, x.endpoint_id FROM jsonb_to_recordset($1::jsonb) AS x(task_id uuid, attempt int, endpoint_id uuid)
       ON CONFLICT (task_id) DO NOTHING
       RETURNING task_id, endpoint_id`,
      json(copies.map((c) => ({ task_id: c.taskId, attempt: c.attempt, endpoint_id: c.endpointId }))),
    );
  }

  /** Endpoints with copies waiting for their agent (launched, or not taken by a replica that had no connection). */
  async endpointsWithQueuedCopies(): Promise<string[]> {
    const rows = await this.query<RawRow<TaskCopy, 'endpoint_id'>>(`SELECT DISTINCT endpoint_id FROM task_copies WHERE status = 'queued'`);
    return rows.map((r) => r.endpoint_id);
  }

  /**
   * Leases queued copies of this endpoint to one agent connection, each as a task to send (its task
   * still held by its original attempt). Copies whose task ended meanwhile stay for the sweep to end.
   * Whether the agent isolates another user's task is read as it stands now (isolatesFor), not as it
   * stood when the copy was placed: a copy of another user's task queued for an agent that has said
   * `ownerOnly` since is not sent (its agent would refuse it, having been handed the task's arguments
   * all the same); it ends `cancelled` (ISOLATION_REQUIRED), archived, and the original runs on.
   */
  grant(endpointId: string, leaseOwner: string, leaseMs: number, limit: number): Promise<DispatchedRow[]> {
    return this.query(
      `WITH ended AS (
         UPDATE task_copies c SET status = 'cancelled', ended_at = now(),
                error = jsonb_build_object('code', 'ISOLATION_REQUIRED', 'name', 'IsolationRequired',
                  'message', 'the endpoint chosen for the speculative copy runs tasks without bubblewrap now, so it runs only its owner''s')
         FROM tasks t, endpoints e
         WHERE c.endpoint_id = $1::uuid AND c.status = 'queued' AND t.id = c.task_id AND e.id = c.endpoint_id AND NOT ${isolatesFor('t', 'e')}
         RETURNING c.*)
       ${archive('ended')},
       granted AS (
         UPDATE task_copies c SET status = 'dispatched', connection_id = $2, dispatched_at = now(),
                lease_expires_at = now() + $3::int * interval '1 millisecond'
         WHERE c.task_id IN (
           SELECT c2.task_id FROM task_copies c2 JOIN tasks t ON t.id = c2.task_id JOIN endpoints e ON e.id = c2.endpoint_id
           WHERE c2.endpoint_id = $1::uuid AND c2.status = 'queued' AND t.status IN ${HELD} AND ${stillMember('t', 'c2.endpoint_id')} AND ${isolatesFor('t', 'e')}
           ORDER BY c2.launched_at LIMIT $4::int FOR UPDATE OF c2 SKIP LOCKED)
           AND c.status = 'queued'
         RETURNING c.task_id)
       SELECT t.id, t.owner_id, t.function_id, t.attempt, t.args, t.kwargs, t.pickled_args, t.resources, t.priority, t.output_name, ${checkedObjects('t')}
       FROM tasks t JOIN granted g ON g.task_id = t.id`,
      endpointId,
      leaseOwner,
      leaseMs,
      limit,
    );
  }

  /** Copies leased to this connection started running; returns the task ids that changed. */
  async markRunning(endpointId: string, leaseOwner: string, started: Array<{ taskId: string; startedAt: number }>): Promise<string[]> {
    const rows = await this.query<RawRow<TaskCopy, 'task_id'>>(
      `UPDATE task_copies c SET status = 'running', started_at = ${agentStart('x.started_at', 'c.dispatched_at')}
       FROM jsonb_to_recordset($1::jsonb) AS x(task_id uuid, started_at float8)
       WHERE c.task_id = x.task_id AND c.endpoint_id = $2::uuid AND c.connection_id = $3 AND c.status = 'dispatched'
       RETURNING c.task_id`,
      json(started.map((s) => ({ task_id: s.taskId, started_at: s.startedAt }))),
      endpointId,
      leaseOwner,
    );
    return rows.map((r) => r.task_id);
  }

  /** The copies leased to these connections live on (their agents' heartbeats). */
  async extend(owners: string[], leaseMs: number): Promise<void> {
    if (owners.length === 0) return;
    await this.query(
      // SKIP LOCKED, as for the tasks' leases: a copy being completed needs no extension
      `WITH held AS (
         SELECT task_id FROM task_copies
         WHERE connection_id IN (SELECT value FROM jsonb_array_elements_text($1::jsonb)) AND status IN ${COPY_SENT}
         ORDER BY task_id FOR UPDATE SKIP LOCKED)
       UPDATE task_copies c SET lease_expires_at = now() + $2::int * interval '1 millisecond'
       FROM held WHERE c.task_id = held.task_id
       RETURNING c.task_id`,
      json(owners),
      leaseMs,
    );
  }

  /**
   * A (re)connecting agent named these tasks in its hello: those whose copy it was sent (and that has not
   * ended, its task still held and the endpoint still a member of its group) move to its new connection,
   * with a fresh lease, and run on as copies; the task's own lease is not touched (the original attempt
   * is held wherever it runs). Returns their task ids. The agent cannot say which of the two it holds
   * where a copy was placed on the task's own endpoint; then both stay with it.
   */
  async reclaim(endpointId: string, leaseOwner: string, inFlight: string[], leaseMs: number): Promise<string[]> {
    if (inFlight.length === 0) return [];
    const rows = await this.query<RawRow<TaskCopy, 'task_id'>>(
      `UPDATE task_copies c SET connection_id = $3, lease_expires_at = now() + $4::int * interval '1 millisecond'
       FROM tasks t
       WHERE c.task_id IN ${idsIn('$1')} AND c.endpoint_id = $2::uuid AND c.status IN ${COPY_SENT}
         AND t.id = c.task_id AND t.status IN ${HELD} AND ${stillMember('t', '$2::uuid')}
       RETURNING c.task_id`,
      json(inFlight),
      endpointId,
      leaseOwner,
      leaseMs,
    );
    return rows.map((r) => r.task_id);
  }

  /**
   * The copies sent to this endpoint's agent on another connection that its hello did not name: the
   * agent no longer runs them, so they end `lost` now (archived), rather than when their lease runs out,
   * and the attempt they ran beside runs on. As reconcile does for the endpoint's original attempts.
   * Returns their task ids.
   */
  async endUnclaimed(endpointId: string, leaseOwner: string): Promise<string[]> {
    const rows = await this.query<RawRow<TaskCopy, 'task_id'>>(
      `WITH ended AS (
         UPDATE task_copies c SET status = 'lost', ended_at = now(), lease_expires_at = NULL,
                error = ${leaseLost('the agent running the speculative copy reconnected without it')}
         WHERE c.endpoint_id = $1::uuid AND c.status IN ${COPY_SENT} AND c.connection_id IS DISTINCT FROM $2
         RETURNING c.*)
       ${archive('ended')}
       SELECT task_id FROM ended`,
      endpointId,
      leaseOwner,
    );
    return rows.map((r) => r.task_id);
  }

  /**
   * Successful results of copies leased to this connection: each completes its task if nothing else
   * did (first final wins). In the same statement the copy is `won`, and the original attempt, when it
   * was still running, is archived as `superseded` (invariant 12); the task row then holds the copy's
   * attempt (its timings say `speculative`, and the endpoint it ran on: the row's own stays the
   * original's). Returns the tasks completed, with who held the original.
   */
  recordWins(endpointId: string, leaseOwner: string, results: ResultInput[]): Promise<CopyWin[]> {
    const rows = results.map((r) => ({
      id: r.taskId,
      result: r.resultRef ? null : { v: r.result ?? null },
      result_ref: r.resultRef ?? null,
      output: r.output ?? null,
      timings: r.timings,
      started_at: r.timings.startedAt ?? null,
    }));
    return this.query(
      `WITH x AS (SELECT DISTINCT ON (id) * FROM jsonb_to_recordset($1::jsonb)
               AS r(id uuid, result jsonb, result_ref jsonb, output jsonb, timings jsonb, started_at float8)),
            old AS MATERIALIZED (
              SELECT t.id, t.status, t.attempt, t.endpoint_id, t.lease_owner, t.waiting_at, t.dispatched_at, t.running_at FROM tasks t
              WHERE t.id IN (SELECT id FROM x) AND t.status NOT IN ${FINAL}
                AND EXISTS (SELECT 1 FROM task_copies c WHERE c.task_id = t.id AND c.endpoint_id = $2::uuid AND c.connection_id = $3
                            AND c.status IN ${COPY_SENT})
              ORDER BY t.id FOR UPDATE),
            cp AS (
              UPDATE task_copies c SET status = 'won', ended_at = now(), lease_expires_at = NULL, worker_id = x.timings ->> 'workerId',
                     started_at = COALESCE(c.started_at, ${agentStart('x.started_at', 'c.dispatched_at')})
              FROM x JOIN old ON old.id = x.id WHERE c.task_id = x.id
              RETURNING c.task_id, c.dispatched_at, c.started_at),
            won AS (
              UPDATE tasks t SET status = 'success', result = x.result -> 'v', result_ref = x.result_ref, error = NULL, output = x.output,
                     timings = x.timings || jsonb_build_object('connectionId', $3::text, 'speculative', true, 'endpointId', $2::text),
                     completed_at = now(), lease_owner = NULL, lease_expires_at = NULL,
                     dispatched_at = cp.dispatched_at, running_at = cp.started_at
              FROM x JOIN cp ON cp.task_id = x.id
              WHERE t.id = x.id
              RETURNING t.id, t.owner_id, t.status, t.result, t.result_ref, t.error, t.output, t.completed_at, t.endpoint_id),
            superseded AS (
              INSERT INTO task_attempts (task_id, number, status, endpoint_id, connection_id, queued_at, dispatched_at, started_at, ended_at)
              SELECT old.id, old.attempt + 1, 'superseded', old.endpoint_id, old.lease_owner, old.waiting_at, old.dispatched_at, old.running_at, now()
              FROM old JOIN won ON won.id = old.id WHERE old.status IN ${HELD}
              ON CONFLICT DO NOTHING)
       SELECT won.*, CASE WHEN old.status IN ${HELD} THEN old.lease_owner END AS superseded_owner FROM won JOIN old ON old.id = won.id`,
      json(rows),
      endpointId,
      leaseOwner,
    );
  }

  /**
   * Failed results of copies leased to this connection. A copy its agent refused before it ran (never
   * started, its code one of REFUSAL_CODES: the member's allow-list, hash check or isolation) ends as a
   * copy refused at its grant does, `cancelled` with that error, and the sweep places it again on
   * another member (CopyPlacementsRepository); any other ends `failed`. Both are archived. The task goes
   * on with its original attempt, which alone decides a failure (a copy only ever rescues). Returns the
   * copies ended for good (`ended`) and those the sweep may place again (`refused`).
   */
  async recordFailures(endpointId: string, leaseOwner: string, results: ResultInput[]): Promise<{ ended: string[]; refused: string[] }> {
    const rows = results.map((r) => ({ id: r.taskId, error: r.error ?? null, worker_id: r.timings.workerId ?? null, started_at: r.timings.startedAt ?? null }));
    const ended = await this.query<RawRow<TaskCopy, 'task_id'> & { again: boolean }>(
      `WITH x AS (SELECT DISTINCT ON (id) r.*, (r.error->>'code') IN ${REFUSAL_CODES} AS refusal
                  FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, error jsonb, worker_id text, started_at float8)),
            ended AS (
              UPDATE task_copies c SET status = CASE WHEN x.refusal AND c.status = 'dispatched' THEN 'cancelled' ELSE 'failed' END,
                     ended_at = now(), lease_expires_at = NULL, error = x.error,
                     worker_id = CASE WHEN x.refusal AND c.status = 'dispatched' THEN NULL ELSE x.worker_id END,
                     started_at = CASE WHEN x.refusal AND c.status = 'dispatched' THEN NULL
                       ELSE COALESCE(c.started_at, ${agentStart('x.started_at', 'c.dispatched_at')}) END
              FROM x WHERE c.task_id = x.id AND c.endpoint_id = $2::uuid AND c.connection_id = $3 AND c.status IN ${COPY_SENT}
              RETURNING c.*)
       ${archive('ended')}
       SELECT task_id, ${REFUSED('ended')} AS again FROM ended`,
      json(rows),
      endpointId,
      leaseOwner,
    );
    return { ended: ended.filter((r) => !r.again).map((r) => r.task_id), refused: ended.filter((r) => r.again).map((r) => r.task_id) };
  }

  /**
   * The agent handed back (a `requeue` frame) these tasks' copies leased to this connection: each ends
   * `lost` and is archived, the attempt it ran beside running on. An id names the copy only where this
   * connection does not hold the task's original too: where it holds both (a copy placed on the task's
   * own endpoint), a hand-back names the original (an agent reports a copy that lost its worker as a
   * failed result, never in a `requeue` frame), which LeaseService.handBack gives up. Returns their task ids.
   */
  async endHandedBack(endpointId: string, leaseOwner: string, ids: string[]): Promise<string[]> {
    const rows = await this.query<RawRow<TaskCopy, 'task_id'>>(
      `WITH ended AS (
         UPDATE task_copies c SET status = 'lost', ended_at = now(), lease_expires_at = NULL,
                error = ${leaseLost('the agent running the speculative copy handed it back')}
         FROM tasks t
         WHERE c.task_id IN ${idsIn('$1')} AND c.endpoint_id = $2::uuid AND c.connection_id = $3 AND c.status IN ${COPY_SENT}
           AND t.id = c.task_id AND t.lease_owner IS DISTINCT FROM $3
         RETURNING c.*)
       ${archive('ended')}
       SELECT task_id FROM ended`,
      json(ids),
      endpointId,
      leaseOwner,
    );
    return rows.map((r) => r.task_id);
  }

  /**
   * The copies of endpoint group `groupId`'s tasks on its former member `endpointId` (queued, or held by
   * its agent): its consent ended, so they end `lost` and are archived, and the original attempt runs
   * on wherever it runs. Returns them, for its agent to stop those it was sent (`connection_id`).
   */
  endOnLeftMember(groupId: string, endpointId: string): Promise<EndedCopy[]> {
    return this.query(
      `WITH ended AS (
         UPDATE task_copies c SET status = 'lost', ended_at = now(), lease_expires_at = NULL,
                error = ${leaseLost("the endpoint running the speculative copy left the task''s endpoint group")}
         FROM tasks t
         WHERE t.id = c.task_id AND c.endpoint_id = $2::uuid AND c.status IN ${COPY_ACTIVE} AND t.endpoint_group_id = $1::uuid
         RETURNING c.*)
       ${archive('ended')}
       SELECT task_id, endpoint_id, connection_id, status FROM ended`,
      groupId,
      endpointId,
    );
  }

  /**
   * The sweep's part: copies whose task became final without them end `cancelled` (their agents are
   * told to stop them), and copies whose lease ran out (their agent vanished) end `lost`; both are
   * archived. The original attempt goes on either way. Returns those ended, for the cancels.
   */
  endStale(): Promise<EndedCopy[]> {
    return this.query(
      `WITH ended AS (
         UPDATE task_copies c
         SET status = CASE WHEN t.status IN ${FINAL} OR t.status NOT IN ${HELD} THEN 'cancelled' ELSE 'lost' END,
             ended_at = now(), lease_expires_at = NULL,
             error = CASE WHEN t.status IN ${FINAL} OR t.status NOT IN ${HELD}
               THEN jsonb_build_object('code', 'TASK_CANCELLED', 'name', 'TaskCancelled', 'message', 'the task ended before its speculative copy did')
               ELSE ${leaseLost('the agent running the speculative copy went away')} END
         FROM tasks t
         WHERE t.id = c.task_id AND c.status IN ${COPY_ACTIVE}
           AND (t.status IN ${FINAL} OR t.status NOT IN ${HELD} OR c.lease_expires_at < now())
         RETURNING c.*)
       ${archive('ended')}
       SELECT task_id, endpoint_id, connection_id, status FROM ended`,
    );
  }
}
