import { randomUUID } from 'node:crypto';
import type { Database } from '../storage/database.js';

/** A moment as the tests write it: a Date, an ISO string, or epoch milliseconds. */
type Instant = Date | string | number;

/** One attempt's usage row, as the results' group commit writes it (usage_records). */
export interface SeedAttempt {
  ownerId: string;
  endpointId: string;
  functionId: string;
  endedAt: Instant;
  wallMs: number;
  cores: number;
  gpus?: number;
  cpuMs?: number | null;
  maxRssBytes?: number | null;
  taskId?: string;
  attempt?: number;
  speculative?: boolean;
  status?: string;
  blockId?: string | null;
}

/** One pilot block, as heartbeats upsert it (endpoint_blocks). */
export interface SeedBlock {
  endpointId: string;
  blockId?: string;
  nodes: number;
  startedAt: Instant | null;
  endedAt?: Instant | null;
  /** The last report's time; defaults to endedAt, else now. */
  updatedAt?: Instant;
  busyMs: number;
  idleMs: number;
  state?: string;
}

const at = (d: Instant | null | undefined) => (d === null || d === undefined ? null : new Date(d));

/**
 * Writes usage rows straight into the database, for tests of the reports: one multi-row INSERT each,
 * through the server's own Prisma client. Returns the task ids used (fresh ones where none was given).
 */
export async function seedAttempts(db: Database, attempts: SeedAttempt[]): Promise<string[]> {
  const rows = attempts.map((a) => ({
    task_id: a.taskId ?? randomUUID(),
    attempt: a.attempt ?? 1,
    speculative: a.speculative ?? false,
    owner_id: a.ownerId,
    endpoint_id: a.endpointId,
    function_id: a.functionId,
    status: a.status ?? 'success',
    ended_at: new Date(a.endedAt).toISOString(),
    wall_ms: a.wallMs,
    cores: a.cores,
    gpus: a.gpus ?? 0,
    cpu_ms: a.cpuMs ?? null,
    max_rss_bytes: a.maxRssBytes ?? null,
    block_id: a.blockId ?? null,
  }));
  await db.prisma.$executeRawUnsafe(
    `INSERT INTO usage_records (task_id, attempt, speculative, owner_id, endpoint_id, function_id, status, ended_at, wall_ms, cores, gpus, cpu_ms, max_rss_bytes, block_id)
     SELECT task_id, attempt, speculative, owner_id, endpoint_id, function_id, status, ended_at, wall_ms, cores, gpus, cpu_ms, max_rss_bytes, block_id
     FROM jsonb_to_recordset($1::jsonb) AS r(task_id uuid, attempt int, speculative boolean, owner_id uuid, endpoint_id uuid, function_id uuid, status text,
       ended_at timestamptz, wall_ms bigint, cores int, gpus int, cpu_ms bigint, max_rss_bytes bigint, block_id text)`,
    JSON.stringify(rows),
  );
  return rows.map((r) => r.task_id);
}

export async function seedBlocks(db: Database, blocks: SeedBlock[]): Promise<void> {
  const rows = blocks.map((b) => {
    const endedAt = at(b.endedAt);
    return {
      endpoint_id: b.endpointId,
      block_id: b.blockId ?? randomUUID().slice(0, 8),
      state: b.state ?? (endedAt ? 'ended' : 'running'),
      nodes: b.nodes,
      started_at: at(b.startedAt)?.toISOString() ?? null,
      ended_at: endedAt?.toISOString() ?? null,
      busy_ms: b.busyMs,
      idle_ms: b.idleMs,
      updated_at: (at(b.updatedAt) ?? endedAt ?? new Date()).toISOString(),
    };
  });
  await db.prisma.$executeRawUnsafe(
    `INSERT INTO endpoint_blocks (endpoint_id, block_id, state, nodes, started_at, ended_at, busy_ms, idle_ms, updated_at)
     SELECT endpoint_id, block_id, state, nodes, started_at, ended_at, busy_ms, idle_ms, updated_at
     FROM jsonb_to_recordset($1::jsonb) AS r(endpoint_id uuid, block_id text, state text, nodes int, started_at timestamptz, ended_at timestamptz,
       busy_ms bigint, idle_ms bigint, updated_at timestamptz)`,
    JSON.stringify(rows),
  );
}
