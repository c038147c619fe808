import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Applies the hand-written migrations in prisma/migrations at start-up, on PostgreSQL and PGlite alike
 * (Prisma's schema engine cannot run offline or on PGlite). It writes Prisma's own bookkeeping table
 * with Prisma's checksums, so that a later `prisma migrate deploy` or `prisma migrate status` agrees
 * with what was applied here.
 */

/** One database session: the advisory lock and each migration's transaction must stay on it. */
export interface MigrationSession {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Runs a script of several statements (no parameters). */
  exec(sql: string): Promise<void>;
  /** Runs `fn` inside BEGIN … COMMIT on this session; rolls back when it throws. */
  transaction<T>(fn: (tx: MigrationSession) => Promise<T>): Promise<T>;
}

export interface MigrationDriver {
  /** Lends one session for the whole migration run and gives it back afterwards. */
  withSession<T>(fn: (session: MigrationSession) => Promise<T>): Promise<T>;
}

export interface MigrateOptions {
  /** The prisma/migrations directory: `<timestamp>_<name>/migration.sql` in each subdirectory. */
  migrationsDir: string;
  log?: (msg: string) => void;
}

export class MigrationError extends Error {
  constructor(
    message: string,
    readonly migrationName?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

export interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

// Prisma's exact definition (schema-engine, postgres flavour), so that Prisma can read and extend it.
const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

// An arbitrary constant shared by every FX replica: two servers starting together serialise here.
const ADVISORY_LOCK_KEY = 0x46_58_6d_67; // 'FXmg'

/** Reads `<dir>/<name>/migration.sql` for every subdirectory, sorted by name (the timestamp prefix). */
export async function readMigrations(migrationsDir: string): Promise<MigrationFile[]> {
  let entries;
  try {
    entries = await readdir(migrationsDir, { withFileTypes: true });
  } catch (err) {
    throw new MigrationError(`cannot read the migrations directory ${migrationsDir}: ${(err as Error).message}`, undefined, {
      cause: err,
    });
  }
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const files: MigrationFile[] = [];
  for (const name of names) {
    let buf: Buffer;
    try {
      buf = await readFile(path.join(migrationsDir, name, 'migration.sql'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // Prisma skips such folders too
      throw err;
    }
    files.push({ name, sql: buf.toString('utf8'), checksum: createHash('sha256').update(buf).digest('hex') });
  }
  return files;
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: unknown;
}

/** Applies every migration not yet applied, each in its own transaction; returns the names applied. */
export async function migrate(driver: MigrationDriver, options: MigrateOptions): Promise<string[]> {
  const log = options.log ?? (() => {});
  const files = await readMigrations(options.migrationsDir);
  return driver.withSession(async (session) => {
    await session.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCK_KEY]);
    try {
      await session.exec(CREATE_TABLE);
      // Rolled-back rows do not count as applied (Prisma's rule); a row without finished_at is a failure.
      const rows = await session.query<AppliedRow>(
        `SELECT migration_name, checksum, finished_at FROM "_prisma_migrations"
          WHERE rolled_back_at IS NULL ORDER BY started_at`,
      );
      const applied = new Map<string, AppliedRow>();
      for (const row of rows) {
        if (row.finished_at === null) {
          throw new MigrationError(
            `migration ${row.migration_name} failed earlier and is recorded as unfinished in _prisma_migrations; ` +
              `repair the database, then mark it rolled back (prisma migrate resolve --rolled-back ${row.migration_name})`,
            row.migration_name,
          );
        }
        applied.set(row.migration_name, row);
      }
      const known = new Set(files.map((f) => f.name));
      for (const name of applied.keys()) {
        if (!known.has(name)) log(`migration ${name} is recorded in the database but missing from ${options.migrationsDir}`);
      }

      const done: string[] = [];
      for (const file of files) {
        const row = applied.get(file.name);
        if (row) {
          if (row.checksum !== file.checksum) {
            throw new MigrationError(
              `migration ${file.name} was modified after it was applied: the database recorded checksum ` +
                `${row.checksum}, the file now has ${file.checksum}; restore the file and add a new migration instead`,
              file.name,
            );
          }
          continue;
        }
        log(`applying migration ${file.name}`);
        try {
          await session.transaction(async (tx) => {
            await tx.exec(file.sql);
            await tx.query(
              `INSERT INTO "_prisma_migrations"
                 (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
               VALUES ($1, $2, clock_timestamp(), $3, NULL, NULL, now(), 1)`,
              [randomUUID(), file.checksum, file.name],
            );
          });
        } catch (err) {
          throw new MigrationError(`migration ${file.name} failed and was rolled back: ${(err as Error).message}`, file.name, {
            cause: err,
          });
        }
        done.push(file.name);
      }
      return done;
    } finally {
      // A failed unlock means the session is gone, and the lock went with it: keep the first error.
      await session.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK_KEY]).catch(() => {});
    }
  });
}
