import { Injectable } from '@nestjs/common';
import { SqlRepository } from '../../storage/sql.repository.js';
import type { RawRow } from '../../storage/raw-rows.js';
import type { TaskCopy } from '../../generated/prisma/client.js';
import { HELD } from '../tasks/task-sql.js';
import type { Straggler } from './copies.repository.js';
import { MAX_COPY_PLACEMENTS, REFUSED } from './copy-sql.js';

/** A copy refused before it ran, that may be placed again: its task (as a straggler), the placement, who refused it. */
export type RefusedCopy = Straggler & RawRow<TaskCopy, 'placement' | 'refused_by'>;

/**
 * The statements that place a refused speculative copy again (the sweep's placeRefusedAgain): a copy
 * refused before it ran, at its grant or by its agent's intake (copy-sql.ts REFUSAL_CODES), goes as the
 * same task_copies row to another member, up to MAX_COPY_PLACEMENTS placements in all.
 */
@Injectable()
export class CopyPlacementsRepository extends SqlRepository {
  /**
   * Copies refused before they ran that may be placed again (MAX_COPY_PLACEMENTS not reached), with
   * their task, and the members that refused them so far (the last one included).
   */
  refused(limit: number): Promise<RefusedCopy[]> {
    return this.query(
      `SELECT t.id, t.owner_id, t.serializer, t.attempt, t.endpoint_id, t.endpoint_group_id, t.function_id, t.resources,
              c.placement, c.refused_by || c.endpoint_id AS refused_by
       FROM task_copies c JOIN tasks t ON t.id = c.task_id
       WHERE ${REFUSED('c')}
       ORDER BY c.ended_at LIMIT $1::int`,
      limit,
    );
  }

  /**
   * Places a refused copy again, on `endpointId`, as a new copy of the task (its refusal stays archived:
   * what the last placement's agent was sent and did is cleared from the row); or, `endpointId` null (no
   * other member) or its task no longer held by the attempt the copy ran beside, places it no more, and
   * the copy leaves the refused ones for good. Only a copy still as `refused` read it moves (another
   * replica's sweep may have placed it). Returns whether it was placed.
   */
  async replace(c: Pick<RefusedCopy, 'id' | 'placement' | 'refused_by'>, endpointId: string | null): Promise<boolean> {
    const rows = await this.query<{ placed: boolean }>(
      `WITH target AS (
         SELECT c.task_id, ($3::uuid IS NOT NULL AND t.status IN ${HELD} AND t.attempt = c.attempt) AS placed
         FROM task_copies c JOIN tasks t ON t.id = c.task_id
         WHERE c.task_id = $1::uuid AND c.placement = $2::int AND ${REFUSED('c')}
         FOR UPDATE OF c)
       UPDATE task_copies c SET placement = CASE WHEN x.placed THEN c.placement + 1 ELSE ${MAX_COPY_PLACEMENTS} END,
              refused_by = CASE WHEN x.placed THEN $4::uuid[] ELSE c.refused_by END,
              endpoint_id = CASE WHEN x.placed THEN $3::uuid ELSE c.endpoint_id END,
              status = CASE WHEN x.placed THEN 'queued' ELSE c.status END,
              launched_at = CASE WHEN x.placed THEN now() ELSE c.launched_at END,
              ended_at = CASE WHEN x.placed THEN NULL ELSE c.ended_at END,
              error = CASE WHEN x.placed THEN NULL ELSE c.error END,
              connection_id = CASE WHEN x.placed THEN NULL ELSE c.connection_id END,
              dispatched_at = CASE WHEN x.placed THEN NULL ELSE c.dispatched_at END,
              started_at = CASE WHEN x.placed THEN NULL ELSE c.started_at END,
              worker_id = CASE WHEN x.placed THEN NULL ELSE c.worker_id END
       FROM target x WHERE c.task_id = x.task_id
       RETURNING x.placed`,
      c.id,
      c.placement,
      endpointId,
      c.refused_by,
    );
    return rows[0]?.placed === true;
  }
}
