import { Injectable } from '@nestjs/common';
import { SqlRepository } from '../../storage/sql.repository.js';
import type { QueuedRow } from '../tasks/tasks.repository.js';
import { HELD, idsIn, json, queuedColumns } from '../tasks/task-sql.js';
import { dropForeignHolds } from '../cache/cache-sql.js';

/** What one steal takes, and from where. */
export interface StealRequest {
  /** The idle member taking the tasks. */
  endpointId: string;
  /** Only tasks of these groups (those it is an active member of). */
  groupIds: string[];
  /** From each of these members, at most `take` tasks. */
  from: Array<{ endpointId: string; take: number }>;
  /** null: any function; otherwise only these (a restricted endpoint). */
  allowedFunctions: string[] | null;
  /** null: any resources; otherwise at most this many GPUs and nodes per task. */
  limits: { gpus: number; nodes: number } | null;
  /** null: any user's tasks; otherwise only this user's (a thief whose agent said `ownerOnly`, in its hello or its heartbeat). */
  ownerOnly: string | null;
  /** The thief's owner: another user's pickle tasks are never taken (member-choice trusts). */
  ownerId: string;
}

/**
 * Work stealing between members of endpoint groups. The steal is one conditional UPDATE of tasks still
 * `waiting-for-endpoint` on the member they are taken from, rows locked with SKIP LOCKED (a lease being
 * granted meanwhile keeps its task): as with rerouting, a task moved is never leased by its old member
 * (LeasesRepository.grant matches the endpoint), so no task runs on two members at once.
 */
@Injectable()
export class WorkStealingRepository extends SqlRepository {
  /** The live groups each of these endpoints is an active member of. */
  memberships(endpointIds: string[]): Promise<Array<{ endpoint_id: string; group_id: string }>> {
    if (endpointIds.length === 0) return Promise.resolve([]);
    return this.query(
      `SELECT m.endpoint_id, m.group_id FROM endpoint_group_members m
       JOIN endpoint_groups g ON g.id = m.group_id AND g.deleted_at IS NULL
       WHERE m.state = 'active' AND m.endpoint_id IN ${idsIn('$1')}`,
      json(endpointIds),
    );
  }

  /** Tasks the endpoint's agent holds now (dispatched or running). */
  async held(endpointId: string): Promise<number> {
    const [row] = await this.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE endpoint_id = $1::uuid AND status IN ${HELD}`, endpointId);
    return row?.n ?? 0;
  }

  /**
   * Moves waiting tasks of these groups from the given members to the thief, from each the highest
   * priority and oldest first; returns them for the thief's queue. Their entries left on the other
   * members' queues are skipped and settled when claimed there. A memoized task another user's thief
   * takes gives up the execution its identical tasks wait for (dropForeignHolds).
   */
  steal(r: StealRequest): Promise<QueuedRow[]> {
    if (r.from.length === 0 || r.groupIds.length === 0) return Promise.resolve([]);
    return this.query<QueuedRow>(
      `WITH src AS (SELECT * FROM jsonb_to_recordset($2::jsonb) AS s(endpoint_id uuid, take int)),
       picked AS (
         SELECT p.id FROM src CROSS JOIN LATERAL (
           SELECT t.id FROM tasks t
           WHERE t.endpoint_id = src.endpoint_id AND t.status = 'waiting-for-endpoint'
             AND t.endpoint_group_id IN ${idsIn('$3')}
             AND ($4::jsonb IS NULL OR t.function_id IN ${idsIn('$4')})
             AND ($5::int IS NULL OR COALESCE((t.resources->>'gpus')::int, 0) <= $5::int)
             AND ($6::int IS NULL OR COALESCE((t.resources->>'nodes')::int, 1) <= $6::int)
             AND ($7::uuid IS NULL OR t.owner_id = $7::uuid)
             AND (t.serializer <> 'pickle' OR t.owner_id = $8::uuid)
           ORDER BY t.priority DESC, t.received_at, t.id
           LIMIT src.take FOR UPDATE OF t SKIP LOCKED) p),
       moved AS (UPDATE tasks t SET endpoint_id = $1::uuid FROM picked WHERE t.id = picked.id
                 RETURNING ${queuedColumns('t.')}, t.cache_key),
       dropped AS (${dropForeignHolds('moved')})
       SELECT ${queuedColumns()} FROM moved`,
      r.endpointId,
      json(r.from.map((f) => ({ endpoint_id: f.endpointId, take: f.take }))),
      json(r.groupIds),
      r.allowedFunctions ? json(r.allowedFunctions) : null,
      r.limits?.gpus ?? null,
      r.limits?.nodes ?? null,
      r.ownerOnly,
      r.ownerId,
    );
  }
}
