import { withConflictRetry } from '../common/conflict-retry.js';
import type { Prisma } from '../generated/prisma/client.js';
import type { Database } from './database.js';

/**
 * Holds, until the transaction `tx` ends, a lock on one name (e.g. an owner's function or object name):
 * writers racing for the name queue here instead of racing for its unique index, which would fail all
 * but one of them more often than a fixed number of retries absorbs. A transaction-scoped advisory lock
 * on a 64-bit hash of `key`; a collision only makes two names wait for each other.
 */
export async function lockName(tx: Pick<Prisma.TransactionClient, '$executeRawUnsafe'>, key: string): Promise<void> {
  await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, key);
}

/**
 * Runs `fn` in a transaction that holds the lock on `key` first: a check and the write it allows (a
 * quota's count and the insert it admits) cannot interleave with another request's for the same key.
 * A burst of requests for one key queues for the lock and the pool's connections: Prisma's defaults
 * (2 s to get a connection, 5 s in all) would fail the later ones of a burst of a hundred instead.
 */
export function inTurn<T>(db: Database, key: string, fn: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> {
  return withConflictRetry(() =>
    db.prisma.$transaction(
      async (tx) => {
        await lockName(tx, key);
        return fn(tx);
      },
      { maxWait: 30_000, timeout: 60_000 },
    ),
  );
}
