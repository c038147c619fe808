import path from 'node:path';
import { createTestDatabase, tempDir } from '@fx/testing';
import type { Database } from '../storage/database.js';
import { createDatabase } from '../storage/database.factory.js';

/** The stores FX runs on, for statement tests: PostgreSQL, and the embedded PGlite. */
export type TestStoreKind = 'postgres' | 'pglite';

/** A fresh store of that kind with every migration applied from scratch (a database of its own on PostgreSQL). */
/** `url`: the PostgreSQL database's, for a test that needs a connection of its own (a transaction held open). */
export async function openTestStore(kind: TestStoreKind): Promise<{ db: Database; url?: string; close: () => Promise<void> }> {
  const dir = await tempDir();
  const testDb = kind === 'postgres' ? await createTestDatabase() : undefined;
  const db = await createDatabase({
    dataDir: dir.path,
    migrationsDir: path.resolve('prisma/migrations'),
    ...(testDb ? { databaseUrl: testDb.url, poolSize: 4 } : { embeddedStore: 'pglite' as const }),
  });
  await db.migrate();
  return {
    db,
    ...(testDb ? { url: testDb.url } : {}),
    close: async () => {
      await db.close();
      await testDb?.drop();
      await dir.remove();
    },
  };
}
