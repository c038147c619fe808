import { Inject, Injectable } from '@nestjs/common';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';
import type { RawRow } from '../../storage/raw-rows.js';
import type { Task } from '../../generated/prisma/client.js';
import { toQueueCounts, type QueueCounts } from '../tasks/tasks.repository.js';

/** The console overview's aggregates over the tasks table. Reads are one statement each. */
@Injectable()
export class ConsoleRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  private query<T>(sql: string, ...params: unknown[]): Promise<T[]> {
    return this.db.prisma.$queryRawUnsafe<T[]>(sql, ...params);
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
    const rows = await this.query<RawRow<Task, 'status'> & { n: number }>(
      `SELECT status, count(*)::int AS n FROM tasks WHERE status IN ('waiting-for-endpoint', 'dispatched', 'running') AND ($1::uuid IS NULL OR owner_id = $1::uuid) GROUP BY status`,
      ownerId,
    );
    return toQueueCounts(rows);
  }
}
