import { Inject, Injectable } from '@nestjs/common';
import { withConflictRetry } from '../common/conflict-retry.js';
import type { Database } from './database.js';
import { DATABASE } from './storage.module.js';

/**
 * What every repository of raw SQL shares: statements through the database's SqlRunner (named prepared statements on PostgreSQL), each run again when
 * PostgreSQL aborted it for a conflict (conflict-retry.ts says why that is safe on these paths).
 */
@Injectable()
export abstract class SqlRepository {
  constructor(@Inject(DATABASE) protected readonly db: Database) {}

  protected query<T>(sql: string, ...params: unknown[]): Promise<T[]> {
    return withConflictRetry(() => this.db.sql.query<T>(sql, params));
  }

  protected exec(sql: string, ...params: unknown[]): Promise<number> {
    return withConflictRetry(() => this.db.sql.exec(sql, params));
  }
}
