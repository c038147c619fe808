import type { PrismaClient } from '../generated/prisma/client.js';
import type { SqlRunner } from './sql-runner.js';

/**
 * A connected database: Prisma for the repositories, plus raw SQL for the batched statements that
 * Prisma cannot express in one round trip. Implementations: PostgreSQL at DATABASE_URL (pg driver
 * adapter), FX's own embedded PostgreSQL in the data directory (the default), and PGlite (in-process).
 */
export interface Database {
  readonly kind: 'postgres' | 'embedded-postgres' | 'pglite';
  readonly prisma: PrismaClient;
  /** Raw SQL of the repositories, one statement at a time, typed as Prisma's raw API types it. */
  readonly sql: SqlRunner;
  /** Applies every migration in prisma/migrations not yet applied, recording them in _prisma_migrations. */
  migrate(): Promise<string[]>;
  /** True when the database answers. */
  health(): Promise<boolean>;
  /** The connection pool's use, where there is a pool (PGlite has none: one in-process session). */
  poolUse?(): PoolUse;
  close(): Promise<void>;
}

/** Connections of a pool: open ones (busy + idle), its cap, and requests waiting for one. */
export interface PoolUse {
  total: number;
  idle: number;
  waiting: number;
  max: number;
}

/** True when a trivial query answers: the health check both backends share. */
export async function answers(prisma: PrismaClient): Promise<boolean> {
  try {
    await prisma.$queryRawUnsafe('SELECT 1');
    return true;
  } catch {
    return false;
  }
}
