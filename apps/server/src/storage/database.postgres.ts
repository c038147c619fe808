import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';
import { answers, type Database, type PoolUse } from './database.js';
import { migrate, type MigrationDriver, type MigrationSession } from './migrator.js';
import type { SqlRunner } from './sql-runner.js';
import { pgSql } from './sql-runner.pg.js';

export interface PostgresDatabaseOptions {
  databaseUrl: string;
  migrationsDir: string;
  /** Connections in the pool behind Prisma. @default 10 */
  poolSize?: number;
  log?: (msg: string) => void;
}

/** PostgreSQL through the pg driver adapter; the pool is ours, so close() ends it. */
export class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  readonly prisma: PrismaClient;
  readonly sql: SqlRunner;
  private readonly pool: pg.Pool;
  private closed = false;

  constructor(private readonly options: PostgresDatabaseOptions) {
    const log = options.log ?? (() => {});
    this.pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize ?? 10 });
    // An idle client that loses its server emits 'error' on the pool; without a listener node exits.
    this.pool.on('error', (err) => log(`postgres pool: idle connection failed: ${err.message}`));
    this.prisma = new PrismaClient({ adapter: new PrismaPg(this.pool) });
    this.sql = pgSql(this.pool);
  }

  migrate(): Promise<string[]> {
    return migrate(this.migrationDriver(), { migrationsDir: this.options.migrationsDir, log: this.options.log });
  }

  async health(): Promise<boolean> {
    return answers(this.prisma);
  }

  poolUse(): PoolUse {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount, max: this.options.poolSize ?? 10 };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.prisma.$disconnect();
    await this.pool.end();
  }

  // A connection of its own, outside the pool: the advisory lock is session-scoped, and ending the
  // connection releases it even if the unlock never runs.
  private migrationDriver(): MigrationDriver {
    const url = this.options.databaseUrl;
    return {
      async withSession(fn) {
        const client = new pg.Client({ connectionString: url });
        client.on('error', () => {}); // surfaced by the failing query instead
        await client.connect();
        try {
          return await fn(pgSession(client));
        } finally {
          await client.end().catch(() => {});
        }
      },
    };
  }
}

function pgSession(client: pg.Client): MigrationSession {
  const session: MigrationSession = {
    async query<R>(sql: string, params?: unknown[]) {
      return (await client.query(sql, params)).rows as R[];
    },
    async exec(sql: string) {
      // No parameters: pg uses the simple protocol, which runs every statement of the script.
      await client.query(sql);
    },
    async transaction(fn) {
      await client.query('BEGIN');
      try {
        const result = await fn(session);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
    },
  };
  return session;
}
