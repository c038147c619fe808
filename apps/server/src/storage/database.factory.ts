import type { Database } from './database.js';
import { PgliteDatabase } from './database.pglite.js';
import { PostgresDatabase } from './database.postgres.js';

export interface CreateDatabaseOptions {
  /** A postgresql:// URL. Without it FX runs on embedded PGlite in `dataDir`. */
  databaseUrl?: string;
  /** The server's data directory; PGlite lives in `<dataDir>/pglite`. */
  dataDir: string;
  /** prisma/migrations. */
  migrationsDir: string;
  /** Connections in the PostgreSQL pool (ignored by PGlite, which has one). @default 10 */
  poolSize?: number;
  log?: (msg: string) => void;
}

/** Connects to PostgreSQL when a URL is given, otherwise opens PGlite. Does not migrate: call migrate(). */
export async function createDatabase(options: CreateDatabaseOptions): Promise<Database> {
  if (options.databaseUrl) {
    return new PostgresDatabase({
      databaseUrl: options.databaseUrl,
      migrationsDir: options.migrationsDir,
      poolSize: options.poolSize,
      log: options.log,
    });
  }
  return PgliteDatabase.open({ dataDir: options.dataDir, migrationsDir: options.migrationsDir, log: options.log });
}
