import type { PrismaClient } from '../generated/prisma/client.js';

/**
 * One SQL statement at a time, for the repositories of raw SQL: rows (typed as Prisma's raw API
 * types them: int8 BigInt, numeric Decimal, timestamps Date, json parsed) or the count of rows changed.
 */
export interface SqlRunner {
  query<T>(text: string, params: readonly unknown[]): Promise<T[]>;
  exec(text: string, params: readonly unknown[]): Promise<number>;
}

/** Through Prisma's raw API: PGlite's path, which has no pool of its own to prepare statements on. */
export function prismaSql(prisma: PrismaClient): SqlRunner {
  return {
    query: <T>(text: string, params: readonly unknown[]) => prisma.$queryRawUnsafe<T[]>(text, ...params),
    exec: (text, params) => prisma.$executeRawUnsafe(text, ...params),
  };
}
