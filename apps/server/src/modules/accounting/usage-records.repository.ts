import { Inject, Injectable } from '@nestjs/common';
import type { AttemptUsage } from '@fx/protocol';
import { withConflictRetry } from '../../common/conflict-retry.js';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';
import type { RawRow } from '../../storage/raw-rows.js';
import type { UsageRecord } from '../../generated/prisma/client.js';
import { FINAL, HELD, json, lostOn, tasksOfFrame } from '../tasks/task-sql.js';
import type { UsageRow } from './accounting-rows.js';

/**
 * The statement that records usage rows (`rows`: their jsonb parameter), only for what this connection
 * may report on: a task leased to it for the attempt the result names (or one whose lease was lost on
 * this endpoint and that waits for it again, as results are recorded: tasks.repository.ts recordResults), a
 * speculative copy leased to it. Owner and function are copied from the task, so usage outlives its
 * purge. A row recorded before (a resend) is left as it is, except the server's estimate of an attempt
 * it thought lost (leases.repository.ts), which the agent's measure replaces; a row named twice counts
 * once. The frame's tasks are read once, by primary key (u_t, materialized): joined to the rows inside
 * each probe, the planner (which takes the rows for a handful) scanned every row once per task, 21 of
 * the 26 ms of a 334-result frame. `steps` are CTEs (named u_*), `insert` the INSERT over them: a statement of its own
 * (UsageRecordsRepository.record) or a step of the one that records the results themselves, which sees
 * the leases as they were before it ends them (recordResults: one round trip for both).
 */
export function usageSteps(p: { rows: string; endpoint: string; leaseOwner: string }): { steps: string; insert: string } {
  const steps = `u_x AS (SELECT DISTINCT ON (task_id, attempt, copy) * FROM jsonb_to_recordset(${p.rows}::jsonb) AS r(task_id uuid, attempt int, copy boolean, status text, ended_at float8,
                      wall_ms bigint, cores int, gpus int, cpu_ms bigint, max_rss_bytes bigint, block_id text)),
              u_t AS MATERIALIZED (${tasksOfFrame('u_x', 'task_id', 'true', {
                columns: 't.id, t.owner_id, t.function_id, t.endpoint_id, t.endpoint_group_id, t.lease_owner, t.status, t.attempt',
                lock: false,
              })}),
              u_held AS (
                SELECT x.*, t.owner_id, t.function_id FROM u_x x JOIN u_t t ON t.id = x.task_id
                WHERE NOT x.copy AND t.endpoint_id = ${p.endpoint}::uuid AND t.status NOT IN ${FINAL}
                  AND ((t.lease_owner = ${p.leaseOwner} AND t.attempt = x.attempt) OR (t.status = 'waiting-for-endpoint' AND t.attempt = x.attempt + 1 AND ${lostOn('t', p.endpoint)}))
                UNION ALL
                SELECT x.*, t.owner_id, t.function_id FROM u_x x JOIN task_copies c ON c.task_id = x.task_id JOIN u_t t ON t.id = x.task_id
                WHERE x.copy AND c.endpoint_id = ${p.endpoint}::uuid AND c.connection_id = ${p.leaseOwner} AND c.status IN ${HELD} AND c.attempt = x.attempt)`;
  const insert = `INSERT INTO usage_records (task_id, attempt, speculative, owner_id, endpoint_id, function_id, status, ended_at,
                                    wall_ms, cores, gpus, cpu_ms, max_rss_bytes, block_id)
         SELECT task_id, attempt + 1, copy, owner_id, ${p.endpoint}::uuid, function_id, status, COALESCE(to_timestamp(ended_at / 1000.0), now()),
                wall_ms, cores, gpus, cpu_ms, max_rss_bytes, block_id
         FROM u_held
         ON CONFLICT (task_id, attempt, speculative) DO UPDATE SET
           status = EXCLUDED.status, ended_at = EXCLUDED.ended_at, wall_ms = EXCLUDED.wall_ms, cores = EXCLUDED.cores, gpus = EXCLUDED.gpus,
           cpu_ms = EXCLUDED.cpu_ms, max_rss_bytes = EXCLUDED.max_rss_bytes, block_id = EXCLUDED.block_id
         -- only the server's estimate of a lost attempt gives way to the agent's measure; a resend changes nothing
         WHERE usage_records.status = 'lost'`;
  return { steps, insert };
}

/** A stored attempt's usage, as GET /v1/tasks/:id shows it beside the attempt (`attempt`: TaskAttempt.number). */
export type StoredUsage = RawRow<UsageRecord, 'attempt' | 'speculative' | 'wall_ms' | 'cores' | 'gpus' | 'cpu_ms' | 'max_rss_bytes' | 'block_id'>;

/** Most usage rows read for one task: more than the attempts it shows. */
const MAX_USAGE_PER_TASK = 200;

/**
 * The usage_records table (migration 20261219001000_usage): one row per attempt an agent reported a
 * result for (or, estimated, one that started and lost its agent: leases.repository.ts), keyed by task, attempt number (TaskAttempt.number: the task row's attempt + 1) and whether
 * it was a speculative copy. Written with the results, read by GET /v1/tasks/:id (GET /v1/usage sums it).
 */
@Injectable()
export class UsageRecordsRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  /**
   * Records the usage of results in a statement of its own (usageSteps), for results that end their
   * leases in another statement (speculative copies, retried failures): it runs before that one.
   * Returns how many rows were written.
   */
  async record(endpointId: string, leaseOwner: string, rows: UsageRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    const u = usageSteps({ rows: '$1', endpoint: '$2', leaseOwner: '$3' });
    return withConflictRetry(() => this.db.prisma.$executeRawUnsafe(`WITH ${u.steps} ${u.insert}`, json(rows), endpointId, leaseOwner));
  }

  /** The usage recorded for a task's attempts, latest first. */
  forTask(taskId: string): Promise<StoredUsage[]> {
    return withConflictRetry(() =>
      this.db.prisma.$queryRawUnsafe<StoredUsage[]>(
        `SELECT attempt, speculative, wall_ms, cores, gpus, cpu_ms, max_rss_bytes, block_id FROM usage_records
         WHERE task_id = $1::uuid ORDER BY attempt DESC, speculative LIMIT $2::int`,
        taskId,
        MAX_USAGE_PER_TASK,
      ),
    );
  }
}

/** A stored row as the attempt shows it (BIGINT columns come back as bigint). */
export function toAttemptUsage(u: StoredUsage): AttemptUsage {
  return {
    wallMs: Number(u.wall_ms),
    cores: u.cores,
    gpus: u.gpus,
    cpuMs: u.cpu_ms === null ? null : Number(u.cpu_ms),
    maxRssBytes: u.max_rss_bytes === null ? null : Number(u.max_rss_bytes),
    ...(u.block_id !== null ? { blockId: u.block_id } : {}),
  };
}
