import { join } from 'node:path';
import type { PrismaClient } from '../generated/prisma/client.js';
import type { Database, PoolUse } from './database.js';
import { PostgresDatabase, type PostgresDatabaseOptions } from './database.postgres.js';
import type { SqlRunner } from './sql-runner.js';
import type { PostgresBinaries } from './embedded-postgres/postgres.binaries.js';
import type { Launcher } from './embedded-postgres/postgres.launcher.js';
import { EmbeddedPostgres } from './embedded-postgres/postgres.server.js';

/** What PostgresDatabase takes, less the URL: the server started here gives it. */
export interface EmbeddedPostgresDatabaseOptions extends Omit<PostgresDatabaseOptions, 'databaseUrl'> {
  /** The server's data directory; the store lives in `<dataDir>/postgres`. */
  dataDir: string;
  binaries: PostgresBinaries;
  launcher: Launcher;
}

/**
 * The default store: a PostgreSQL server of FX's own in the data directory. Queries run in another
 * process, on as many connections as the pool has, so a big batch no longer stalls the event loop
 * that reads agents' heartbeats (which PGlite, in-process on one connection, did).
 */
export class EmbeddedPostgresDatabase implements Database {
  readonly kind = 'embedded-postgres' as const;

  private constructor(
    private readonly db: PostgresDatabase,
    private readonly server: EmbeddedPostgres,
  ) {}

  static async open(options: EmbeddedPostgresDatabaseOptions): Promise<EmbeddedPostgresDatabase> {
    const server = new EmbeddedPostgres({
      dir: join(options.dataDir, 'postgres'),
      binaries: options.binaries,
      launcher: options.launcher,
      poolSize: options.poolSize,
      log: options.log,
    });
    await server.start();
    const db = new PostgresDatabase({ databaseUrl: server.url, migrationsDir: options.migrationsDir, poolSize: options.poolSize, log: options.log });
    return new EmbeddedPostgresDatabase(db, server);
  }

  get prisma(): PrismaClient {
    return this.db.prisma;
  }

  get sql(): SqlRunner {
    return this.db.sql;
  }

  migrate(): Promise<string[]> {
    return this.db.migrate();
  }

  health(): Promise<boolean> {
    return this.db.health();
  }

  poolUse(): PoolUse {
    return this.db.poolUse();
  }

  async close(): Promise<void> {
    try {
      await this.db.close();
    } finally {
      await this.server.stop();
    }
  }
}
