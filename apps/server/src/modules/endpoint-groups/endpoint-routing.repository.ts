import { Injectable } from '@nestjs/common';
import type { TaskResources } from '@fx/protocol';
import { SqlRepository } from '../../storage/sql.repository.js';
import type { RawRow } from '../../storage/raw-rows.js';
import type { Endpoint, Task } from '../../generated/prisma/client.js';
import type { OutcomeRow, QueuedRow } from '../tasks/tasks.repository.js';
import { agentOwnerOnly, idsIn, json, queuedColumns } from '../tasks/task-sql.js';
import { dropForeignHolds } from '../cache/cache-sql.js';

/** An active member of a live group, with what routing weighs (member-choice.ts). */
export type MemberLoadRow = RawRow<
  Endpoint,
  'owner_id' | 'restricted' | 'allowed_functions' | 'status' | 'connected_at' | 'disconnected_at' | 'last_heartbeat_at'
> & {
  group_id: string;
  endpoint_id: string;
  waiting: number;
  /** Its agent said `ownerOnly` in its hello (AgentSessionService stores that in `agent`). */
  owner_only: boolean;
};

/** A waiting task of a group, as rerouting weighs it. */
export type GroupedTaskRow = RawRow<Task, 'id' | 'owner_id' | 'endpoint_id' | 'function_id' | 'serializer'> & {
  resources: TaskResources | null;
  endpoint_group_id: string;
  contents: string[];
};

/** Waiting tasks counted per member at most this far: past it, a member is simply very busy. */
const WAITING_COUNT_CAP = 100_000;
const CONNECTED = `e.connected_at IS NOT NULL AND (e.disconnected_at IS NULL OR e.disconnected_at < e.connected_at)`;

/**
 * What endpoint group routing reads and the one statement that moves a waiting task between members.
 * A move changes `endpoint_id` of a task still `waiting-for-endpoint` only: a task leased meanwhile is
 * not moved, and a task moved is not leased by its old member (LeasesRepository.grant matches the
 * endpoint), so a task never runs on two members at once.
 */
@Injectable()
export class EndpointRoutingRepository extends SqlRepository {
  /** The active members of these live groups on live, unlocked endpoints, with their waiting tasks. */
  memberLoads(groupIds: string[]): Promise<MemberLoadRow[]> {
    if (groupIds.length === 0) return Promise.resolve([]);
    return this.query<MemberLoadRow>(
      `SELECT m.group_id, e.id AS endpoint_id, e.owner_id, e.restricted, e.allowed_functions, e.status, e.connected_at, e.disconnected_at, e.last_heartbeat_at,
              ${agentOwnerOnly('e')} AS owner_only,
              (SELECT count(*)::int FROM (SELECT 1 FROM tasks t WHERE t.endpoint_id = e.id AND t.status = 'waiting-for-endpoint' LIMIT $2::int) w) AS waiting
       FROM endpoint_group_members m
       JOIN endpoint_groups g ON g.id = m.group_id AND g.deleted_at IS NULL
       JOIN endpoints e ON e.id = m.endpoint_id AND e.deleted_at IS NULL AND e.locked_at IS NULL
       WHERE m.state = 'active' AND m.group_id IN ${idsIn('$1')}
       ORDER BY e.id`,
      json(groupIds),
      WAITING_COUNT_CAP,
    );
  }

  /**
   * Waiting tasks of live groups queued on this endpoint (of any group, once the endpoint is deleted:
   * a deleted group's task has no member to wait for), highest priority first, with their inputs' contents.
   */
  /** `notOwnedBy`: only tasks of other users than this one (those an owner-only member may not run). */
  waitingOn(endpointId: string, limit: number, notOwnedBy: string | null = null): Promise<GroupedTaskRow[]> {
    return this.query<GroupedTaskRow>(
      `SELECT t.id, t.owner_id, t.endpoint_id, t.endpoint_group_id, t.function_id, t.serializer, t.resources,
              ARRAY(SELECT o.sha256 FROM task_objects r JOIN objects o ON o.id = r.object_id WHERE r.task_id = t.id) AS contents
       FROM tasks t JOIN endpoint_groups g ON g.id = t.endpoint_group_id JOIN endpoints e ON e.id = t.endpoint_id
       WHERE t.endpoint_id = $1::uuid AND t.endpoint_group_id IS NOT NULL AND t.status = 'waiting-for-endpoint'
         AND (g.deleted_at IS NULL OR e.deleted_at IS NOT NULL) AND ($3::uuid IS NULL OR t.owner_id <> $3::uuid)
       ORDER BY t.priority DESC, t.received_at, t.id LIMIT $2::int`,
      endpointId,
      limit,
      notOwnedBy,
    );
  }

  /**
   * Moves each task to its new member if it is still waiting on its old one; returns the moved ones for
   * the new members' queues. Rows are locked in id order, skipping those another statement holds (a
   * lease being granted): those stay, and the next reroute looks again. A memoized task moved onto
   * another user's member gives up the execution its identical tasks wait for (dropForeignHolds).
   */
  move(moves: Array<{ id: string; from: string; to: string }>): Promise<QueuedRow[]> {
    if (moves.length === 0) return Promise.resolve([]);
    return this.query<QueuedRow>(
      `WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, src uuid, dst uuid)),
       locked AS (
         SELECT t.id, x.dst FROM tasks t JOIN x ON x.id = t.id
         WHERE t.endpoint_id = x.src AND t.status = 'waiting-for-endpoint'
         ORDER BY t.id FOR UPDATE OF t SKIP LOCKED),
       moved AS (UPDATE tasks t SET endpoint_id = locked.dst FROM locked WHERE t.id = locked.id
                 RETURNING ${queuedColumns('t.')}, t.cache_key),
       dropped AS (${dropForeignHolds('moved')})
       SELECT ${queuedColumns()} FROM moved`,
      json(moves.map((m) => ({ id: m.id, src: m.from, dst: m.to }))),
    );
  }

  /**
   * Endpoints holding waiting tasks of a live group while their agent is away (never connected,
   * disconnected, or not heard from within `timeoutMs`) or while no longer an active member of the
   * task's group (it left), endpoints whose agent runs only its owner's tasks holding another user's,
   * and deleted endpoints holding waiting tasks of any group: what the repair sweep reroutes (or fails,
   * when no member is left).
   */
  async stranded(timeoutMs: number, limit: number): Promise<string[]> {
    const rows = await this.query<{ id: string }>(
      `SELECT e.id FROM endpoints e
       WHERE EXISTS (
         SELECT 1 FROM tasks t JOIN endpoint_groups g ON g.id = t.endpoint_group_id
         WHERE t.endpoint_id = e.id AND t.endpoint_group_id IS NOT NULL AND t.status = 'waiting-for-endpoint'
           AND (g.deleted_at IS NULL OR e.deleted_at IS NOT NULL)
           AND (e.deleted_at IS NOT NULL OR NOT (${CONNECTED}) OR e.last_heartbeat_at IS NULL OR e.last_heartbeat_at < now() - $1::int * interval '1 millisecond'
                OR NOT EXISTS (SELECT 1 FROM endpoint_group_members m WHERE m.group_id = t.endpoint_group_id AND m.endpoint_id = e.id AND m.state = 'active')
                OR (${agentOwnerOnly('e')} AND t.owner_id <> e.owner_id)))
       LIMIT $2::int`,
      timeoutMs,
      limit,
    );
    return rows.map((r) => r.id);
  }

  /** Fails these waiting tasks (no member is left to run them); returns them for their waiters. */
  failWaiting(ids: string[], error: { code: string; name: string; message: string }) {
    return this.query<OutcomeRow>(
      `UPDATE tasks SET status = 'failed', completed_at = now(), error = $2::jsonb
       WHERE id IN ${idsIn('$1')} AND status = 'waiting-for-endpoint'
       RETURNING id, owner_id, status, result, error, output, completed_at`,
      json(ids),
      json(error),
    );
  }
}
