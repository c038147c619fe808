import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from './database.js';
import { EmbeddedPostgresDatabase } from './database.embedded-postgres.js';
import { PgliteDatabase } from './database.pglite.js';
import { PostgresDatabase } from './database.postgres.js';
import { findPostgresBinaries, PostgresBinariesUnavailableError } from './embedded-postgres/postgres.binaries.js';
import { postgresLauncher } from './embedded-postgres/postgres.launcher.js';

/** Which embedded store runs when no DATABASE_URL is set. */
export type EmbeddedStore = 'auto' | 'postgres' | 'pglite';

export interface CreateDatabaseOptions {
  /** A postgresql:// URL. Without it FX runs an embedded store in `dataDir`. */
  databaseUrl?: string;
  /** The server's data directory: `<dataDir>/postgres` or `<dataDir>/pglite`. */
  dataDir: string;
  /** prisma/migrations. */
  migrationsDir: string;
  /**
   * auto: the embedded PostgreSQL, unless the data directory already holds a PGlite store (kept, so no
   * data is left behind) or PostgreSQL cannot run here (then PGlite, with a warning saying why).
   * @default 'auto'
   */
  embeddedStore?: EmbeddedStore;
  /** Connections in the PostgreSQL pool (ignored by PGlite, which has one). @default 10 */
  poolSize?: number;
  log?: (msg: string) => void;
  warn?: (msg: string) => void;
}

/** Connects to PostgreSQL when a URL is given, otherwise opens an embedded store. Does not migrate: call migrate(). */
export async function createDatabase(options: CreateDatabaseOptions): Promise<Database> {
  if (options.databaseUrl) {
    return new PostgresDatabase({ databaseUrl: options.databaseUrl, migrationsDir: options.migrationsDir, poolSize: options.poolSize, log: options.log });
  }
  const { dataDir, migrationsDir, log } = options;
  const store = options.embeddedStore ?? 'auto';
  const hasPglite = existsSync(join(dataDir, 'pglite'));
  const hasPostgres = existsSync(join(dataDir, 'postgres', 'data'));
  if (store === 'pglite' || (store === 'auto' && hasPglite && !hasPostgres)) {
    return PgliteDatabase.open({ dataDir, migrationsDir, log });
  }
  if (store === 'postgres' && hasPglite && !hasPostgres) {
    throw new PostgresBinariesUnavailableError(
      `${dataDir} holds a PGlite store; FX_EMBEDDED_STORE=postgres would start an empty one beside it. Keep FX_EMBEDDED_STORE=auto (or pglite) to use it, or move ${join(dataDir, 'pglite')} away`,
    );
  }
  let binaries, launcher;
  try {
    binaries = findPostgresBinaries();
    launcher = postgresLauncher();
  } catch (e) {
    if (store === 'postgres' || !(e instanceof PostgresBinariesUnavailableError)) throw e;
    (options.warn ?? log ?? (() => {}))(`the embedded PostgreSQL cannot run here (${e.message}); using embedded PGlite, which is slower under load`);
    return PgliteDatabase.open({ dataDir, migrationsDir, log });
  }
  return EmbeddedPostgresDatabase.open({ dataDir, migrationsDir, binaries, launcher, poolSize: options.poolSize, log });
}
