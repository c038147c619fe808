import { Inject, Injectable } from '@nestjs/common';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';
import { FINAL, idsIn, json } from '../tasks/task-sql.js';

/** What the metrics take of a task that ended: its labels and its durations (server clock, seconds). */
export interface OutcomeFacts {
  endpoint_id: string;
  runtime: string;
  status: 'success' | 'failed' | 'cancelled';
  /** False once its endpoint was deleted: then it is counted under `other`, never under a dead id. */
  endpoint_live: boolean;
  memoized: boolean;
  cached: boolean;
  /** running → completed; null when it never ran (cancelled while queued, cached, failed by an input). */
  run_seconds: number | null;
  latency_seconds: number;
}

export interface OpenTaskCount {
  endpoint_id: string;
  status: string;
  n: number;
}

export interface EndpointPresence {
  id: string;
  connected_at: Date | null;
  disconnected_at: Date | null;
  last_heartbeat_at: Date | null;
}

/**
 * A final task's OutcomeFacts as one jsonb value, for the RETURNING of the statement that recorded the
 * outcome (`t`: the task row's alias there, its new values): the metrics then need no lookup of their own.
 * The endpoint counts as live unless its row says it was deleted. MetricsRepository.outcomeFacts reads the same.
 */
export function outcomeFactsJson(t: string): string {
  return `jsonb_build_object('endpoint_id', ${t}.endpoint_id::text, 'runtime', (SELECT f.runtime FROM functions f WHERE f.id = ${t}.function_id),
            'status', ${t}.status, 'endpoint_live', NOT EXISTS (SELECT 1 FROM endpoints e WHERE e.id = ${t}.endpoint_id AND e.deleted_at IS NOT NULL),
            'memoized', ${t}.cache_key IS NOT NULL, 'cached', ${t}.cached_from IS NOT NULL,
            'run_seconds', EXTRACT(EPOCH FROM (${t}.completed_at - ${t}.running_at))::float8,
            'latency_seconds', EXTRACT(EPOCH FROM (${t}.completed_at - ${t}.received_at))::float8)`;
}

/** The statements behind /metrics: one lookup per batch of outcomes, and the two reads of a scrape. */
@Injectable()
export class MetricsRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  /** Labels and durations of these tasks, those that are final (by primary key: one statement per batch of outcomes). */
  async outcomeFacts(ids: string[]): Promise<OutcomeFacts[]> {
    const rows = await this.db.prisma.$queryRawUnsafe<Array<{ facts: OutcomeFacts }>>(
      `SELECT ${outcomeFactsJson('t')} AS facts FROM tasks t WHERE t.id IN ${idsIn('$1')} AND t.status IN ${FINAL}`,
      json(ids),
    );
    return rows.map((r) => r.facts);
  }

  /**
   * Open tasks per endpoint and state, in one grouped statement. It reads only open tasks, through the
   * partial index tasks_open_endpoint_status_idx (migration 20261219003500_metrics; the
   * condition must stay `NOT IN FINAL` for the planner to use it), so its cost
   * follows the backlog, not the retained history of finished tasks. Endpoints deleted are left out.
   */
  openTaskCounts(): Promise<OpenTaskCount[]> {
    return this.db.prisma.$queryRawUnsafe<OpenTaskCount[]>(
      `SELECT c.endpoint_id::text AS endpoint_id, c.status, c.n
       FROM (SELECT endpoint_id, status, count(*)::int AS n FROM tasks WHERE status NOT IN ${FINAL} GROUP BY endpoint_id, status) c
       JOIN endpoints e ON e.id = c.endpoint_id AND e.deleted_at IS NULL`,
    );
  }

  /** Live endpoints that have had an agent at least once (one never used is not "offline"). */
  endpointsSeen(limit: number): Promise<EndpointPresence[]> {
    return this.db.prisma.$queryRawUnsafe<EndpointPresence[]>(
      `SELECT id::text AS id, connected_at, disconnected_at, last_heartbeat_at FROM endpoints
       WHERE deleted_at IS NULL AND connected_at IS NOT NULL
       ORDER BY last_heartbeat_at DESC NULLS LAST LIMIT $1::int`,
      limit,
    );
  }
}
