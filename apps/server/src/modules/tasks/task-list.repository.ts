import { Injectable } from '@nestjs/common';
import type { TaskStatus } from '@fx/protocol';
import { SqlRepository } from '../../storage/sql.repository.js';
import type { RawRow } from '../../storage/raw-rows.js';
import type { Task } from '../../generated/prisma/client.js';

/** A task as task lists show it: no arguments or results, the error's code and message pulled out. */
export type TaskSummaryRow = RawRow<
  Task,
  'id' | 'function_id' | 'endpoint_id' | 'endpoint_group_id' | 'batch_id' | 'owner_id' | 'status' | 'attempt' | 'received_at' | 'completed_at',
  { status: TaskStatus }
> & { error_code: string | null; error_message: string | null };

export interface TaskListFilter {
  ownerId?: string;
  statuses?: TaskStatus[];
  endpointId?: string;
  functionId?: string;
  batchId?: string;
  since?: Date;
  until?: Date;
  /** Keyset: rows strictly older than this (received_at, id). */
  before?: { receivedAt: Date; id: string };
  limit: number;
}

/** The WHERE conditions of a task list filter, with their parameters. */
function taskConditions(f: Partial<TaskListFilter>) {
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (f.ownerId) where.push(`owner_id = ${p(f.ownerId)}::uuid`);
  if (f.statuses?.length) where.push(`status IN (SELECT jsonb_array_elements_text(${p(JSON.stringify(f.statuses))}::jsonb))`);
  if (f.endpointId) where.push(`endpoint_id = ${p(f.endpointId)}::uuid`);
  if (f.functionId) where.push(`function_id = ${p(f.functionId)}::uuid`);
  if (f.batchId) where.push(`batch_id = ${p(f.batchId)}::uuid`);
  if (f.since) where.push(`received_at >= ${p(f.since)}::timestamptz`);
  if (f.until) where.push(`received_at < ${p(f.until)}::timestamptz`);
  if (f.before) where.push(`(received_at, id) < (${p(f.before.receivedAt)}::timestamptz, ${p(f.before.id)}::uuid)`);
  return { where, params, p };
}

/** Task lists (GET /v1/tasks): filtered, keyset-paged reads that never return arguments or results. */
@Injectable()
export class TaskListRepository extends SqlRepository {
  /** Newest first, keyset-paged on (received_at, id); only the filters given become conditions. */
  list(f: TaskListFilter): Promise<TaskSummaryRow[]> {
    const { where, params, p } = taskConditions(f);
    return this.query<TaskSummaryRow>(
      `SELECT id, function_id, endpoint_id, endpoint_group_id, batch_id, owner_id, status, attempt, received_at, completed_at,
              error ->> 'code' AS error_code, error ->> 'message' AS error_message
       FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY received_at DESC, id DESC LIMIT ${p(f.limit)}::int`,
      ...params,
    );
  }

  /** Tasks per state among the newest `cap` that match (the cursor and limit aside): one bounded read. */
  countByStatus(f: Omit<TaskListFilter, 'before' | 'limit'>, cap: number): Promise<Array<RawRow<Task, 'status'> & { n: number }>> {
    const { where, params, p } = taskConditions(f);
    return this.query(
      `SELECT status, count(*)::int AS n FROM (
         SELECT status FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY received_at DESC, id DESC LIMIT ${p(cap)}::int
       ) AS newest GROUP BY status`,
      ...params,
    );
  }
}
