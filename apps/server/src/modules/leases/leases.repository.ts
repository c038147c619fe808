import { Injectable } from '@nestjs/common';
import type { ObjectRef, TaskResources } from '@fx/protocol';
import { SqlRepository } from '../../storage/sql.repository.js';
import type { RawRow } from '../../storage/raw-rows.js';
import type { Task } from '../../generated/prisma/client.js';
import type { OutcomeRow, QueuedRow, TaskJson, TaskSerialized } from '../tasks/tasks.repository.js';
import { FINAL, HELD, stillMember, checkedObjects, idsIn, json, queuedColumns } from '../tasks/task-sql.js';
import { COPY_ACTIVE } from '../speculation/copies.repository.js';

/** A task as it is handed to an agent (`waited_seconds`: since it joined its queue; from the grant only, for /metrics). */
export type DispatchedRow = RawRow<
  Task,
  'id' | 'owner_id' | 'function_id' | 'attempt' | 'args' | 'kwargs' | 'pickled_args' | 'resources' | 'priority' | 'output_name',
  Pick<TaskJson, 'args' | 'kwargs'> & Pick<TaskSerialized, 'pickled_args'> & { resources: TaskResources | null }
> & { waited_seconds?: number | null; objects: ObjectRef[] | null };

/**
 * A task whose speculative copy still runs keeps running on it when its original attempt's lease is
 * lost: it is requeued (or failed) only once the copy has ended too (the speculation sweep ends a copy
 * whose own lease ran out).
 */
const NO_ACTIVE_COPY = `NOT EXISTS (SELECT 1 FROM task_copies c WHERE c.task_id = tasks.id AND c.status IN ${COPY_ACTIVE})`;
/**
 * The task's copy has not ended (queued, or sent to an agent: another, or the one that held the original,
 * where the copy was placed on the task's own endpoint).
 */
const ACTIVE_COPY = `EXISTS (SELECT 1 FROM task_copies c WHERE c.task_id = tasks.id AND c.status IN ${COPY_ACTIVE})`;

/** Tasks whose lease ended without a result: back to their queue (`attempt + 1`), or failed past the limit. */
export interface LostLeases {
  requeued: QueuedRow[];
  exhausted: OutcomeRow[];
}

/**
 * The lease columns of the tasks table (`lease_owner`, `lease_expires_at`): a lease is granted when a
 * task is dispatched, extended by heartbeats, and when it is lost the task returns to its queue with
 * `attempt + 1`. Settling a lease with a result is part of recording the result (tasks.repository.ts).
 */
/**
 * The usage of an attempt that lost its agent (issue 17): it held its worker from when it started
 * until now, but no agent measured it, so the server records what it knows — the wall time and the
 * cores and GPUs the task asked for (1 core otherwise, as a local worker has) — with status `lost` and
 * no CPU or memory figures. An agent that reconnects and reports the attempt's result replaces it
 * (usage-records.repository.ts). Selects from a row set with the task's columns, `attempt` being the
 * row's attempt before the requeue.
 */
const LOST_USAGE_INSERT = `INSERT INTO usage_records (task_id, attempt, speculative, owner_id, endpoint_id, function_id, status, ended_at, wall_ms, cores, gpus)
  SELECT id, attempt + 1, false, owner_id, endpoint_id, function_id, 'lost', now(),
         GREATEST(0, (extract(epoch FROM now() - running_at) * 1000)::bigint),
         COALESCE((resources->>'cores')::int, 1), COALESCE((resources->>'gpus')::int, 0)`;

/** Archives the attempts of CTE `old` (a task's columns, before the requeue) as `lost`, with who held them. */
const LOST_ATTEMPT_INSERT = (old: string) =>
  `INSERT INTO task_attempts (task_id, number, status, endpoint_id, connection_id, queued_at, dispatched_at, started_at, ended_at)
  SELECT id, attempt + 1, 'lost', endpoint_id, lease_owner, waiting_at, dispatched_at, running_at, now() FROM ${old}
  ON CONFLICT DO NOTHING`;

@Injectable()
export class LeasesRepository extends SqlRepository {
  /**
   * Leases queued tasks to one agent connection. Only rows still waiting change: stale queue entries
   * (cancelled, already dispatched by a duplicate entry) are skipped here, which is what makes
   * re-enqueueing from PostgreSQL always safe. A task of an endpoint group is leased only to an active
   * member: one that left keeps no claim on the tasks that came back to its queue (a lease lost there)
   * before the reroute moved them. `onlyOwner` (an agent that runs only its owner's tasks): another
   * user's task of a group is not leased either; the caller has it rerouted.
   */
  grant(endpointId: string, ids: string[], leaseOwner: string, leaseMs: number, onlyOwner: string | null = null): Promise<DispatchedRow[]> {
    return this.query<DispatchedRow>(
      `UPDATE tasks SET status = 'dispatched', dispatched_at = now(), lease_owner = $3,
              lease_expires_at = now() + $4::int * interval '1 millisecond'
       WHERE id IN ${idsIn('$1')} AND endpoint_id = $2::uuid AND status = 'waiting-for-endpoint' AND ${stillMember('tasks', '$2::uuid')}
         AND ($5::uuid IS NULL OR endpoint_group_id IS NULL OR owner_id = $5::uuid)
       RETURNING id, owner_id, function_id, attempt, args, kwargs, pickled_args, resources, priority, output_name, ${checkedObjects('tasks')},
                 EXTRACT(EPOCH FROM (now() - COALESCE(waiting_at, received_at)))::float8 AS waited_seconds`,
      json(ids),
      endpointId,
      leaseOwner,
      leaseMs,
      onlyOwner,
    );
  }

  /**
   * A server start: no agent could extend its leases while no server ran, so every held lease gets at
   * least `ms` from now to be claimed by its agent's hello. Returns how many leases that touched.
   */
  renewHeld(ms: number): Promise<number> {
    return this.exec(
      `UPDATE tasks SET lease_expires_at = now() + $1::int * interval '1 millisecond'
       WHERE status IN ${HELD} AND (lease_expires_at IS NULL OR lease_expires_at < now() + $1::int * interval '1 millisecond')`,
      ms,
    );
  }

  /** Heartbeat: the agents behind these connections are alive, so their leases live on. One statement for all. */
  async extend(leaseOwners: string | string[], leaseMs: number): Promise<void> {
    const owners = typeof leaseOwners === 'string' ? [leaseOwners] : leaseOwners;
    if (owners.length === 0) return;
    await this.exec(
      // SKIP LOCKED: a row another statement is changing now (its result, say) needs no extension, and
      // waiting for it is how a heartbeat flush and a results frame deadlock. Locks are taken in id order.
      `WITH held AS (
         SELECT id FROM tasks
         WHERE lease_owner IN (SELECT value FROM jsonb_array_elements_text($1::jsonb)) AND status IN ${HELD}
         ORDER BY id FOR UPDATE SKIP LOCKED)
       UPDATE tasks t SET lease_expires_at = now() + $2::int * interval '1 millisecond'
       FROM held WHERE t.id = held.id`,
      json(owners),
      leaseMs,
    );
  }

  /**
   * A (re)connecting agent said which tasks it still holds. Those move to the new connection (a task
   * of an endpoint group only while the endpoint is still its member: a former member's agent that
   * names a task given up beside its copy, giveUpBesideCopies, does not get it back; nor does any agent
   * an original given up, giveUpHeld: an id it names then is the copy it runs beside it); every
   * other task held for this endpoint has no agent any more and goes back to the queue now rather
   * than at lease expiry. Returns the requeued tasks, the exhausted ones, and the ids the agent
   * should forget (LeaseService.reconcile keeps those of them that name a copy the agent runs).
   */
  async reconcile(
    endpointId: string,
    leaseOwner: string,
    inFlight: string[],
    leaseMs: number,
    maxAttempts: number,
  ): Promise<LostLeases & { forget: string[] }> {
    const kept = await this.query<RawRow<Task, 'id'>>(
      `UPDATE tasks SET lease_owner = $3, lease_expires_at = now() + $4::int * interval '1 millisecond'
       WHERE id IN ${idsIn('$1')} AND endpoint_id = $2::uuid AND status IN ${HELD} AND lease_owner IS NOT NULL AND ${stillMember('tasks', '$2::uuid')}
       RETURNING id`,
      json(inFlight),
      endpointId,
      leaseOwner,
      leaseMs,
    );
    const keptIds = new Set(kept.map((r) => r.id));
    // only this endpoint's: whether another endpoint's task id names a finished task is not this agent's to learn
    const finalIds = new Set(
      (
        await this.query<RawRow<Task, 'id'>>(
          `SELECT id FROM tasks WHERE id IN ${idsIn('$1')} AND endpoint_id = $2::uuid AND status IN ${FINAL}`,
          json(inFlight),
          endpointId,
        )
      ).map((r) => r.id),
    );
    // a final task stays in inFlight so the agent resends its result and gets an ack that clears it
    const forget = inFlight.filter((id) => !keptIds.has(id) && !finalIds.has(id));
    const lost = await this.requeueHeld(`endpoint_id = $1::uuid AND (lease_owner IS NULL OR lease_owner <> $2)`, [endpointId, leaseOwner], maxAttempts);
    return { ...lost, forget };
  }

  /**
   * The agent handed these tasks back without a result (the HPC block running them ended): they go back
   * to the queue with `attempt + 1`, exactly as for a lost lease. Only tasks still leased to this
   * connection move, so a stale or forged frame cannot touch anyone else's tasks.
   */
  requeueReturned(endpointId: string, leaseOwner: string, ids: string[], maxAttempts: number): Promise<LostLeases> {
    return this.requeueHeld(`endpoint_id = $1::uuid AND lease_owner = $2 AND id IN ${idsIn('$3')}`, [endpointId, leaseOwner, json(ids)], maxAttempts);
  }

  /**
   * The tasks of endpoint group `groupId` that its former member `endpointId` holds: its consent ended
   * (or the group's owner took it away), so its agent keeps none of them, whatever it still says.
   */
  requeueLeftMember(groupId: string, endpointId: string, maxAttempts: number): Promise<LostLeases> {
    return this.requeueHeld(`endpoint_group_id = $1::uuid AND endpoint_id = $2::uuid`, [groupId, endpointId], maxAttempts);
  }

  /**
   * The tasks of endpoint group `groupId` whose original attempt its former member `endpointId` holds
   * while their speculative copy runs on another member: the original is given up (giveUpHeld), and the
   * task runs on as its copy. Returns their ids, for its agent to stop.
   */
  giveUpBesideCopies(groupId: string, endpointId: string): Promise<string[]> {
    return this.giveUpHeld(`endpoint_group_id = $1::uuid AND endpoint_id = $2::uuid`, [groupId, endpointId]);
  }

  /**
   * Of these tasks the agent handed back (requeueReturned), those still leased to this connection whose
   * speculative copy has not ended (elsewhere, or on this very connection, placed on the task's own
   * endpoint): the original is given up (giveUpHeld) rather than requeued, which would run the task a
   * third time beside its copy, and rather than left leased to a connection that no longer runs it
   * (its heartbeats extending the lease for as long as it stays). Returns their ids.
   */
  giveUpReturned(endpointId: string, leaseOwner: string, ids: string[]): Promise<string[]> {
    return this.giveUpHeld(`endpoint_id = $1::uuid AND lease_owner = $2 AND id IN ${idsIn('$3')}`, [endpointId, leaseOwner, json(ids)]);
  }

  /**
   * Of these tasks, those whose original attempt was given up (giveUpHeld) and whose copy has ended
   * since without winning: back to their queue with `attempt + 1` now (or failed past the limit),
   * rather than when the recovery sweep finds their expired lease.
   */
  requeueGivenUp(ids: string[], maxAttempts: number): Promise<LostLeases> {
    if (ids.length === 0) return Promise.resolve({ requeued: [], exhausted: [] });
    return this.requeueHeld(`lease_owner IS NULL AND id IN ${idsIn('$1')}`, [json(ids)], maxAttempts);
  }

  /**
   * Gives up the original attempts, matched by `where`, of tasks whose speculative copy has not ended
   * (it runs, or waits for an agent): each is archived `lost` now (with the connection that held it), and
   * the task runs on as its copy. Its lease is left expired and ownerless, so no heartbeat or reconnect
   * of the agent that held it revives it, and no result of that agent is recorded; once the copy ends
   * without winning, the task is requeued at once (requeueGivenUp), or else by the recovery sweep like
   * any lost lease whose copy ended (requeueExpired).
   */
  private async giveUpHeld(where: string, params: unknown[]): Promise<string[]> {
    const rows = await this.query<RawRow<Task, 'id'>>(
      `WITH old AS MATERIALIZED (
         SELECT id, attempt, endpoint_id, lease_owner, waiting_at, dispatched_at, running_at, owner_id, function_id, resources FROM tasks
         WHERE status IN ${HELD} AND ${where} AND lease_owner IS NOT NULL AND ${ACTIVE_COPY}
         ORDER BY id FOR UPDATE),
       given AS (UPDATE tasks t SET lease_owner = NULL, lease_expires_at = now() FROM old WHERE t.id = old.id RETURNING t.id),
       archived AS (${LOST_ATTEMPT_INSERT('old')}),
       used AS (${LOST_USAGE_INSERT} FROM old WHERE running_at IS NOT NULL ON CONFLICT DO NOTHING)
       SELECT id FROM given`,
      ...params,
    );
    return rows.map((r) => r.id);
  }

  /**
   * Leases past their expiry (the agent vanished without a word) go back to the queue. Whether any
   * expired is read first (the open-status lease index): the usual sweep finds none and costs one
   * read instead of the two locking statements.
   */
  async requeueExpired(maxAttempts: number): Promise<LostLeases> {
    const [found] = await this.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM tasks WHERE status IN ${HELD} AND lease_expires_at < now()) AS any`);
    if (found?.any !== true) return { requeued: [], exhausted: [] };
    return this.requeueHeld(`lease_expires_at < now()`, [], maxAttempts);
  }

  /**
   * Lost leases past FX_MAX_ATTEMPTS fail the task; the others return it to its queue. Lost leases are
   * `attempt - retries` (attempt counts retries too). A requeued task's attempt is archived as `lost`
   * in the same statement, and the task row starts the next one afresh (invariant 12); a failed one
   * keeps its last attempt in the row.
   */
  private async requeueHeld(where: string, params: unknown[], maxAttempts: number): Promise<LostLeases> {
    const n = params.length;
    const requeued = await this.query<QueuedRow>(
      `WITH old AS MATERIALIZED (
         SELECT id, attempt, endpoint_id, lease_owner, waiting_at, dispatched_at, running_at, owner_id, function_id, resources FROM tasks
         WHERE status IN ${HELD} AND ${where} AND attempt - retries + 1 < $${n + 1}::int AND ${NO_ACTIVE_COPY} ORDER BY id FOR UPDATE),
       moved AS (
         UPDATE tasks t SET status = 'waiting-for-endpoint', attempt = t.attempt + 1, waiting_at = now(),
                lease_owner = NULL, lease_expires_at = NULL, dispatched_at = NULL, running_at = NULL
         FROM old WHERE t.id = old.id
         RETURNING ${queuedColumns('t.')}),
       archived AS (${LOST_ATTEMPT_INSERT('old')}),
       used AS (${LOST_USAGE_INSERT} FROM old WHERE running_at IS NOT NULL ON CONFLICT DO NOTHING)
       SELECT * FROM moved`,
      ...params,
      maxAttempts,
    );
    const exhausted = await this.query<OutcomeRow>(
      `WITH ended AS (
         UPDATE tasks SET status = 'failed', attempt = attempt + 1, completed_at = now(), lease_owner = NULL, lease_expires_at = NULL,
                error = jsonb_build_object('code', 'MAX_ATTEMPTS_EXCEEDED', 'name', 'MaxAttemptsExceeded',
                  'message', 'the task lost its agent ' || (attempt - retries + 1) || ' times (limit ' || $${n + 1}::int || ')')
         WHERE status IN ${HELD} AND ${where} AND attempt - retries + 1 >= $${n + 1}::int AND ${NO_ACTIVE_COPY}
         RETURNING id, owner_id, status, result, error, output, completed_at, attempt - 1 AS attempt, endpoint_id, function_id, resources, running_at),
       used AS (${LOST_USAGE_INSERT} FROM ended WHERE running_at IS NOT NULL ON CONFLICT DO NOTHING)
       SELECT id, owner_id, status, result, error, output, completed_at FROM ended`,
      ...params,
      maxAttempts,
    );
    return { requeued, exhausted };
  }
}
