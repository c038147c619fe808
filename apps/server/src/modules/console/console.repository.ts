import { Inject, Injectable } from '@nestjs/common';
import type { TaskStatus } from '@fx/protocol';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';

export interface TaskSummaryRow {
  id: string;
  function_id: string;
  endpoint_id: string;
  batch_id: string | null;
  owner_id: string;
  status: TaskStatus;
  attempt: number;
  received_at: Date;
  completed_at: Date | null;
  error_code: string | null;
  error_message: string | null;
}

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

export type QueueCounts = { waiting: number; dispatched: number; running: number };

const ACTIVE = `('waiting-for-endpoint', 'dispatched', 'running')`;

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

/** What the console reads and the few things it changes. Reads are one statement each. */
@Injectable()
export class ConsoleRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  private query<T>(sql: string, ...params: unknown[]): Promise<T[]> {
    return this.db.prisma.$queryRawUnsafe<T[]>(sql, ...params);
  }

  /** Newest first, keyset-paged on (received_at, id); only the filters given become conditions. */
  listTasks(f: TaskListFilter): Promise<TaskSummaryRow[]> {
    const { where, params, p } = taskConditions(f);
    return this.query<TaskSummaryRow>(
      `SELECT id, function_id, endpoint_id, batch_id, owner_id, status, attempt, received_at, completed_at,
              error ->> 'code' AS error_code, error ->> 'message' AS error_message
       FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY received_at DESC, id DESC LIMIT ${p(f.limit)}::int`,
      ...params,
    );
  }

  /** Tasks per state among the newest `cap` that match (the cursor and limit aside): one bounded read. */
  countTasks(f: Omit<TaskListFilter, 'before' | 'limit'>, cap: number): Promise<Array<{ status: string; n: number }>> {
    const { where, params, p } = taskConditions(f);
    return this.query(
      `SELECT status, count(*)::int AS n FROM (
         SELECT status FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY received_at DESC, id DESC LIMIT ${p(cap)}::int
       ) AS newest GROUP BY status`,
      ...params,
    );
  }

  /** Completed and failed tasks per minute since `from` (epoch minutes as keys). */
  throughput(from: Date, ownerId: string | null): Promise<Array<{ minute: number; completed: number; failed: number }>> {
    return this.query(
      `SELECT floor(extract(epoch FROM completed_at) / 60)::int AS minute,
              count(*) FILTER (WHERE status = 'success')::int AS completed,
              count(*) FILTER (WHERE status = 'failed')::int AS failed
       FROM tasks
       WHERE completed_at >= $1::timestamptz AND status IN ('success', 'failed') AND ($2::uuid IS NULL OR owner_id = $2::uuid)
       GROUP BY 1`,
      from,
      ownerId,
    );
  }

  async queueCounts(ownerId: string | null): Promise<QueueCounts> {
    const rows = await this.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM tasks WHERE status IN ${ACTIVE} AND ($1::uuid IS NULL OR owner_id = $1::uuid) GROUP BY status`,
      ownerId,
    );
    return toCounts(rows);
  }

  /** Waiting, dispatched and running tasks of each endpoint, in one statement. */
  async queueCountsByEndpoint(endpointIds: string[]): Promise<Map<string, QueueCounts>> {
    const out = new Map<string, QueueCounts>();
    if (endpointIds.length === 0) return out;
    const rows = await this.query<{ endpoint_id: string; status: string; n: number }>(
      `SELECT endpoint_id, status, count(*)::int AS n FROM tasks
       WHERE status IN ${ACTIVE} AND endpoint_id IN (SELECT value::uuid FROM jsonb_array_elements_text($1::jsonb))
       GROUP BY endpoint_id, status`,
      JSON.stringify(endpointIds),
    );
    for (const id of endpointIds) out.set(id, toCounts(rows.filter((r) => r.endpoint_id === id)));
    return out;
  }

  /** Live endpoints with their owners' names: all of them, only these ids, or only one owner's. */
  endpointsWithOwner(filter: { ids?: string[]; ownerId?: string }) {
    return this.db.prisma.endpoint.findMany({
      where: { deletedAt: null, ...(filter.ids ? { id: { in: filter.ids } } : {}), ...(filter.ownerId ? { ownerId: filter.ownerId } : {}) },
      include: { owner: { select: { name: true } } },
      orderBy: { createdAt: 'asc' },
    });
  }

  /** Owners of endpoints, deleted ones included (their tasks and their removal are still shown). */
  async endpointOwners(ids: string[]): Promise<Map<string, string>> {
    const rows = await this.db.prisma.endpoint.findMany({ where: { id: { in: ids } }, select: { id: true, ownerId: true } });
    return new Map(rows.map((r) => [r.id, r.ownerId]));
  }

  setLocked(endpointId: string, locked: boolean) {
    return this.db.prisma.endpoint.update({ where: { id: endpointId }, data: { lockedAt: locked ? new Date() : null } });
  }

  setFunctionPublic(functionId: string, value: boolean) {
    return this.db.prisma.function.update({ where: { id: functionId }, data: { public: value } });
  }
}

function toCounts(rows: Array<{ status: string; n: number | bigint }>): QueueCounts {
  const get = (s: string) => Number(rows.find((r) => r.status === s)?.n ?? 0);
  return { waiting: get('waiting-for-endpoint'), dispatched: get('dispatched'), running: get('running') };
}
