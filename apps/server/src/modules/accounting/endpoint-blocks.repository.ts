import { Inject, Injectable } from '@nestjs/common';
import { withConflictRetry } from '../../common/conflict-retry.js';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';
import { json } from '../tasks/task-sql.js';
import type { BlockRow } from './accounting-rows.js';

/**
 * The endpoint_blocks table (migration 20261219001000_usage): pilot blocks as their agent accounts for
 * them, upserted from its heartbeats by (endpoint, block).
 */
@Injectable()
export class EndpointBlocksRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  /**
   * One statement for one heartbeat's blocks, all of `endpointId` (the heartbeat's own endpoint: a
   * report never names another). A block's row follows its reports until it is recorded as ended; its
   * final figures then stay, whatever a late or repeated report says.
   */
  async upsert(endpointId: string, rows: BlockRow[]): Promise<void> {
    if (rows.length === 0) return;
    await withConflictRetry(() =>
      this.db.prisma.$executeRawUnsafe(
        `INSERT INTO endpoint_blocks AS b (endpoint_id, block_id, job_id, state, nodes, started_at, ended_at, busy_ms, idle_ms, updated_at)
         SELECT $2::uuid, x.block_id, x.job_id, x.state, x.nodes, to_timestamp(x.started_at / 1000.0), to_timestamp(x.ended_at / 1000.0),
                x.busy_ms, x.idle_ms, now()
         FROM jsonb_to_recordset($1::jsonb) AS x(block_id text, job_id text, state text, nodes int, started_at float8, ended_at float8, busy_ms bigint, idle_ms bigint)
         ON CONFLICT (endpoint_id, block_id) DO UPDATE SET job_id = COALESCE(EXCLUDED.job_id, b.job_id), state = EXCLUDED.state, nodes = EXCLUDED.nodes,
                started_at = COALESCE(EXCLUDED.started_at, b.started_at), ended_at = EXCLUDED.ended_at,
                busy_ms = EXCLUDED.busy_ms, idle_ms = EXCLUDED.idle_ms, updated_at = now()
         WHERE b.ended_at IS NULL`,
        json(rows),
        endpointId,
      ),
    );
  }
}
