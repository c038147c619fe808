import { Injectable } from '@nestjs/common';
import type { GroupKind, Speculation, TaskStatus } from '@fx/protocol';
import { inTurn } from '../../storage/name-lock.js';
import { SqlRepository } from '../../storage/sql.repository.js';
import type { RawRow } from '../../storage/raw-rows.js';
import type { Task, TaskGroup } from '../../generated/prisma/client.js';
import { FINAL } from '../tasks/task-sql.js';
import type { TaskSummaryRow } from '../tasks/task-list.repository.js';

export type GroupRow = RawRow<TaskGroup, 'id' | 'owner_id' | 'kind' | 'created_at' | 'speculation', { kind: GroupKind; speculation: Speculation | null }>;
const GROUP_COLUMNS = 'id, owner_id, kind, created_at, speculation';
/** A new group: $1 id, $2 owner, $3 kind, $4 speculation (JSON or null), $5 awaiting its first task (made empty). */
const INSERT_GROUP = `INSERT INTO task_groups (id, owner_id, kind, speculation, speculating_since, awaiting)
  VALUES ($1::uuid, $2::uuid, $3, $4::jsonb, CASE WHEN $4::jsonb IS NULL THEN NULL ELSE now() END, $5::boolean) RETURNING ${GROUP_COLUMNS}`;

/** Task groups (tasks.batch_id holds a task's group): the group rows, and the reads of a group's tasks. */
@Injectable()
export class GroupsRepository extends SqlRepository {
  async create(id: string, ownerId: string, kind: GroupKind, speculation: Speculation | null = null): Promise<GroupRow> {
    const rows = await this.query<GroupRow>(INSERT_GROUP, id, ownerId, kind, speculation && JSON.stringify(speculation), false);
    return rows[0]!;
  }

  /**
   * An empty group (POST /v1/groups), once `check` accepted how many of the owner's groups await their
   * first task (it throws to refuse), in turn with the owner's other such creates (inTurn): the count
   * and the insert cannot interleave with another request's. First the owner's awaiting groups that
   * hold tasks by now stop awaiting, so the rows counted stay within the quota, and so does the cost.
   */
  async createEmpty(id: string, ownerId: string, kind: GroupKind, speculation: Speculation | null, check: (awaiting: number) => void): Promise<GroupRow> {
    return inTurn(this.db, `task-groups/${ownerId}`, async (tx) => {
      await tx.$executeRawUnsafe(
        `UPDATE task_groups g SET awaiting = false WHERE g.owner_id = $1::uuid AND g.awaiting AND EXISTS (SELECT 1 FROM tasks t WHERE t.batch_id = g.id)`,
        ownerId,
      );
      const [row] = await tx.$queryRawUnsafe<Array<{ n: number }>>(
        `SELECT count(*)::int AS n FROM task_groups WHERE owner_id = $1::uuid AND awaiting`,
        ownerId,
      );
      check(row?.n ?? 0);
      const rows = await tx.$queryRawUnsafe<GroupRow[]>(INSERT_GROUP, id, ownerId, kind, speculation && JSON.stringify(speculation), true);
      return rows[0]!;
    });
  }

  async find(id: string): Promise<GroupRow | null> {
    const rows = await this.query<GroupRow>(`SELECT ${GROUP_COLUMNS} FROM task_groups WHERE id = $1::uuid`, id);
    return rows[0] ?? null;
  }

  /**
   * Tasks join a group that asks for speculation (or asks for it now: `speculation` replaces the
   * group's): the speculation sweep looks at the group again from now on.
   */
  async speculate(id: string, speculation: Speculation | null): Promise<void> {
    await this.query(
      `UPDATE task_groups SET speculation = COALESCE($2::jsonb, speculation), speculating_since = now()
       WHERE id = $1::uuid AND COALESCE($2::jsonb, speculation) IS NOT NULL RETURNING id`,
      id,
      speculation && JSON.stringify(speculation),
    );
  }

  /** The group's tasks per state: an index range of the group, however large. */
  countByStatus(id: string): Promise<Array<RawRow<Task, 'status'> & { n: number }>> {
    return this.query(`SELECT status, count(*)::int AS n FROM tasks WHERE batch_id = $1::uuid GROUP BY status`, id);
  }

  /** Oldest first, keyset-paged on (received_at, id), so tasks added to the group later come at the end. */
  listTasks(id: string, f: { statuses?: TaskStatus[]; after?: { receivedAt: Date; id: string }; limit: number }): Promise<TaskSummaryRow[]> {
    return this.query<TaskSummaryRow>(
      `SELECT id, function_id, endpoint_id, endpoint_group_id, batch_id, owner_id, status, attempt, received_at, completed_at,
              error ->> 'code' AS error_code, error ->> 'message' AS error_message
       FROM tasks
       WHERE batch_id = $1::uuid
         AND ($2::jsonb IS NULL OR status IN (SELECT jsonb_array_elements_text($2::jsonb)))
         AND ($3::timestamptz IS NULL OR (received_at, id) > ($3::timestamptz, $4::uuid))
       ORDER BY received_at, id LIMIT $5::int`,
      id,
      f.statuses?.length ? JSON.stringify(f.statuses) : null,
      f.after?.receivedAt ?? null,
      f.after?.id ?? null,
      f.limit,
    );
  }

  /** Up to `limit` ids of the group's unfinished tasks (what cancelling the group cancels). */
  async unfinishedTaskIds(id: string, limit: number): Promise<string[]> {
    const rows = await this.query<RawRow<Task, 'id'>>(`SELECT id FROM tasks WHERE batch_id = $1::uuid AND status NOT IN ${FINAL} LIMIT $2::int`, id, limit);
    return rows.map((r) => r.id);
  }

  /** Groups made before the cutoff that hold no task (their tasks were purged, or none was ever added). */
  async purgeEmptyBefore(cutoff: Date, limit = 10_000): Promise<number> {
    const rows = await this.query<{ n: number }>(
      `WITH gone AS (
         DELETE FROM task_groups WHERE id IN (
           SELECT g.id FROM task_groups g WHERE g.created_at < $1::timestamptz AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.batch_id = g.id)
           LIMIT $2::int)
         RETURNING id)
       SELECT count(*)::int AS n FROM gone`,
      cutoff,
      limit,
    );
    return Number(rows[0]?.n ?? 0);
  }
}
