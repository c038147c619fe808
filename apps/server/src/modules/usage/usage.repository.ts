import { Inject, Injectable } from '@nestjs/common';
import type { UsageBucket, UsageBy } from '@fx/protocol';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';

/** Sums over attempts as SQL gives them: milliseconds, before they become hours. */
export interface FiguresRow {
  attempts: number;
  tasks: number;
  wall_ms: number;
  core_ms: number;
  gpu_ms: number;
  cpu_ms: number;
  measured: number;
  max_rss: number | null;
}

/** One key's figures (`key` null: the sum of the keys past the limit), ranked by core-ms. */
export type KeyRow = FiguresRow & { key: string | null; name: string | null; rank: number | null };

export interface PointRow {
  at: Date;
  key: string;
  core_ms: number;
  gpu_ms: number;
}

/** One endpoint's pilot blocks, the part of each inside the window, in node-ms. */
export interface BlockRow {
  endpoint_id: string;
  name: string | null;
  blocks: number;
  busy_node_ms: number;
  idle_node_ms: number;
}

/** Who may see what: `viewer` null is an admin (everyone's); else only that user's usage and endpoints. */
export interface UsageScope {
  since: Date;
  until: Date;
  viewer: string | null;
}

const KEY: Record<UsageBy, string> = { user: 'u.owner_id', endpoint: 'u.endpoint_id', function: 'u.function_id' };

/**
 * The name of a key, from the table it lives in: null once the thing is deleted, and null for an
 * endpoint or function that the viewer does not own (another's endpoint a group routed a task to, say):
 * their usage is the viewer's, their names are not. A function is named `name@version`.
 */
const NAMED: Record<UsageBy, { table: string; name: string }> = {
  user: { table: 'users', name: 'n.name' },
  endpoint: { table: 'endpoints', name: `CASE WHEN n.deleted_at IS NULL AND ($3::uuid IS NULL OR n.owner_id = $3::uuid) THEN n.name END` },
  function: {
    table: 'functions',
    name: `CASE WHEN n.deleted_at IS NULL AND ($3::uuid IS NULL OR n.owner_id = $3::uuid OR n.public) THEN n.name || '@' || n.version END`,
  },
};

/** Attempts that ended in the window, of the viewer's tasks ($1 since, $2 until, $3 viewer). */
const IN_SCOPE = `u.ended_at >= $1::timestamptz AND u.ended_at < $2::timestamptz AND ($3::uuid IS NULL OR u.owner_id = $3::uuid)`;

// float8 products: cores × wall_ms summed over a year of attempts could pass bigint's range
const FIGURES = `count(*)::int AS attempts,
  count(DISTINCT u.task_id)::int AS tasks,
  coalesce(sum(u.wall_ms), 0)::float8 AS wall_ms,
  coalesce(sum(u.cores::float8 * u.wall_ms), 0)::float8 AS core_ms,
  coalesce(sum(u.gpus::float8 * u.wall_ms), 0)::float8 AS gpu_ms,
  coalesce(sum(u.cpu_ms), 0)::float8 AS cpu_ms,
  count(u.cpu_ms)::int AS measured,
  max(u.max_rss_bytes)::float8 AS max_rss`;

/**
 * The reads behind GET /v1/usage: every sum is made in SQL, over usage_records (never joined with
 * tasks: usage outlives its task) and endpoint_blocks. One statement per part of the answer.
 */
@Injectable()
export class UsageRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  private query<T>(sql: string, ...params: unknown[]): Promise<T[]> {
    return this.db.prisma.$queryRawUnsafe<T[]>(sql, ...params);
  }

  /** Everything in scope, as one set of figures. */
  async total(s: UsageScope): Promise<FiguresRow> {
    const [row] = await this.query<FiguresRow>(`SELECT ${FIGURES} FROM usage_records u WHERE ${IN_SCOPE}`, s.since, s.until, s.viewer);
    return row!;
  }

  /**
   * The `limit` keys with the most core-ms (ties by key), named, then at most one row with `key` null:
   * the sum of all the others. Distinct tasks of that row are summed per key (a task rehomed between
   * endpoints counts once per endpoint).
   */
  keys(s: UsageScope, by: UsageBy, limit: number): Promise<KeyRow[]> {
    const named = NAMED[by];
    return this.query<KeyRow>(
      `WITH per_key AS (
         SELECT ${KEY[by]} AS key, ${FIGURES} FROM usage_records u WHERE ${IN_SCOPE} GROUP BY 1
       ), ranked AS (
         SELECT per_key.*, row_number() OVER (ORDER BY core_ms DESC, key) AS rank FROM per_key
       )
       SELECT r.key::text AS key, ${named.name} AS name, r.attempts, r.tasks, r.wall_ms, r.core_ms, r.gpu_ms, r.cpu_ms, r.measured, r.max_rss,
              r.rank::int AS rank
       FROM ranked r LEFT JOIN ${named.table} n ON n.id = r.key
       WHERE r.rank <= $4::int
       UNION ALL
       SELECT NULL, NULL, sum(attempts)::int, sum(tasks)::int, sum(wall_ms)::float8, sum(core_ms)::float8, sum(gpu_ms)::float8,
              sum(cpu_ms)::float8, sum(measured)::int, max(max_rss)::float8, NULL
       FROM ranked WHERE rank > $4::int HAVING count(*) > 0
       ORDER BY rank NULLS LAST`,
      s.since,
      s.until,
      s.viewer,
      limit,
    );
  }

  /** Core- and GPU-ms per UTC bucket (by the attempt's end) and key, for the given keys, oldest first. */
  series(s: UsageScope, by: UsageBy, bucket: UsageBucket, keys: string[]): Promise<PointRow[]> {
    return this.query<PointRow>(
      `SELECT date_trunc($4::text, u.ended_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS at, ${KEY[by]}::text AS key,
              sum(u.cores::float8 * u.wall_ms)::float8 AS core_ms, sum(u.gpus::float8 * u.wall_ms)::float8 AS gpu_ms
       FROM usage_records u
       WHERE ${IN_SCOPE} AND ${KEY[by]}::text IN (SELECT value FROM jsonb_array_elements_text($5::jsonb))
       GROUP BY 1, 2 ORDER BY 1, 2`,
      s.since,
      s.until,
      s.viewer,
      bucket,
      JSON.stringify(keys),
    );
  }

  /**
   * Pilot blocks per endpoint (the viewer's own endpoints, deleted ones too: their blocks still cost),
   * the most node-ms first, at most `limit` endpoints. Each block is its span [started_at, ended_at ??
   * updated_at] (its last report); the share of the span inside the window scales its nodes × busy_ms
   * and nodes × idle_ms. A block not started yet holds no node and is left out.
   */
  blocks(s: UsageScope, limit: number): Promise<BlockRow[]> {
    return this.query<BlockRow>(
      `WITH spans AS (
         SELECT b.endpoint_id, b.nodes, b.busy_ms, b.idle_ms,
                extract(epoch FROM coalesce(b.ended_at, b.updated_at) - b.started_at)::float8 AS span_s,
                greatest(0, extract(epoch FROM least(coalesce(b.ended_at, b.updated_at), $2::timestamptz) - greatest(b.started_at, $1::timestamptz)))::float8 AS inside_s
         FROM endpoint_blocks b
         WHERE b.started_at IS NOT NULL AND b.started_at < $2::timestamptz AND coalesce(b.ended_at, b.updated_at) > $1::timestamptz
           AND ($3::uuid IS NULL OR b.endpoint_id IN (SELECT id FROM endpoints WHERE owner_id = $3::uuid))
       ), weighed AS (
         SELECT endpoint_id, busy_ms, idle_ms, nodes * (CASE WHEN span_s > 0 THEN inside_s / span_s ELSE 1 END) AS weight FROM spans
       )
       SELECT w.endpoint_id::text AS endpoint_id, CASE WHEN e.deleted_at IS NULL THEN e.name END AS name, count(*)::int AS blocks,
              sum(w.weight * w.busy_ms)::float8 AS busy_node_ms, sum(w.weight * w.idle_ms)::float8 AS idle_node_ms
       FROM weighed w LEFT JOIN endpoints e ON e.id = w.endpoint_id
       GROUP BY w.endpoint_id, e.name, e.deleted_at
       ORDER BY sum(w.weight * (w.busy_ms + w.idle_ms)) DESC, w.endpoint_id
       LIMIT $4::int`,
      s.since,
      s.until,
      s.viewer,
      limit,
    );
  }
}
