import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from '../generated/prisma/client.js';
import { answers, type Database } from './database.js';
import { migrate, type MigrationSession } from './migrator.js';
import { makePrivate, withPrivateUmask } from './private-dir.js';
import { prismaSql, type SqlRunner } from './sql-runner.js';

export interface PgliteDatabaseOptions {
  /** PGlite keeps its files in `<dataDir>/pglite`. */
  dataDir: string;
  migrationsDir: string;
  log?: (msg: string) => void;
}

/** Embedded PostgreSQL (PGlite, WebAssembly) in the data directory: one connection, no server. */
export class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;
  readonly sql: SqlRunner;
  private closed = false;

  private constructor(
    readonly prisma: PrismaClient,
    private readonly pglite: PGlite,
    private readonly options: PgliteDatabaseOptions,
  ) {
    this.sql = prismaSql(prisma);
  }

  static async open(options: PgliteDatabaseOptions): Promise<PgliteDatabase> {
    const dir = path.join(options.dataDir, 'pglite');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await makePrivate(options.dataDir);
    let pglite: PGlite;
    try {
      pglite = await withPrivateUmask(() => PGlite.create(dir));
    } catch (err) {
      throw new Error(`cannot open the embedded database in ${dir}: ${(err as Error).message}`, { cause: err });
    }
    const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
    return new PgliteDatabase(prisma, pglite, options);
  }

  async migrate(): Promise<string[]> {
    const pglite = this.pglite;
    const applied = await migrate({ withSession: (fn) => fn(pgliteSession(pglite)) }, { migrationsDir: this.options.migrationsDir, log: this.options.log });
    // PGlite gives a few files its own modes (pg_internal.init 0644) whatever the umask: private again.
    await makePrivate(this.options.dataDir);
    return applied;
  }

  async health(): Promise<boolean> {
    return !this.pglite.closed && answers(this.prisma);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.prisma.$disconnect();
    // $disconnect leaves PGlite open, and its WebAssembly instance would keep jest (or the process) alive.
    await this.pglite.close();
  }
}

function pgliteSession(db: PGlite | Transaction): MigrationSession {
  return {
    async query<R>(sql: string, params?: unknown[]) {
      return (await db.query(sql, params)).rows as R[];
    },
    async exec(sql: string) {
      await db.exec(sql);
    },
    async transaction(fn) {
      if (!('transaction' in db)) throw new Error('nested transactions are not supported in migrations');
      return db.transaction((tx) => fn(pgliteSession(tx)));
    },
  };
}
