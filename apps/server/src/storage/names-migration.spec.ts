import { randomUUID } from 'node:crypto';
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { createTestDatabase, tempDir, type TempDir, type TestDatabase } from '@fx/testing';
import type { Database } from './database.js';
import { createDatabase } from './database.factory.js';

/**
 * Migration 20261202030000_names_and_versions on a database that an earlier server filled with what it
 * allowed: endpoints and functions sharing a name under one owner. The server must still start (no
 * refusal), keep every id, and leave names that resolve to one thing.
 */
const NAMES = '20261202030000_names_and_versions';
const source = path.resolve('prisma/migrations');

describe.each(['postgres', 'pglite'] as const)('names migration on %s', (kind) => {
  let dir: TempDir;
  let migrations: TempDir;
  let testDb: TestDatabase | undefined;
  let db: Database;

  beforeAll(async () => {
    dir = await tempDir();
    migrations = await tempDir('fx-migrations');
    // every migration before this one
    await cp(source, migrations.path, { recursive: true, filter: (p) => !p.includes(NAMES) });
    if (kind === 'postgres') testDb = await createTestDatabase();
    db = await createDatabase({ dataDir: dir.path, migrationsDir: migrations.path, ...(testDb ? { databaseUrl: testDb.url, poolSize: 2 } : {}) });
    await db.migrate();
  }, 60_000);

  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
    await dir?.remove();
    await migrations?.remove();
  });

  it('numbers duplicate function names as versions and renames live duplicate endpoint names', async () => {
    const q = (sql: string, ...params: unknown[]) => db.prisma.$executeRawUnsafe(sql, ...params);
    const [alice, bob] = [randomUUID(), randomUUID()];
    await q(`INSERT INTO users (id, name) VALUES ($1::uuid, 'alice'), ($2::uuid, 'bob')`, alice, bob);
    const fn = (owner: string, name: string, at: string) =>
      q(
        `INSERT INTO functions (id, owner_id, name, runtime, source, content_hash, created_at) VALUES ($1::uuid, $2::uuid, $3, 'js', '() => 1', 'h', $4::timestamptz)`,
        randomUUID(),
        owner,
        name,
        at,
      );
    await fn(alice, 'add', '2026-01-01T00:00:00Z');
    await fn(alice, 'add', '2026-01-02T00:00:00Z');
    await fn(alice, 'add', '2026-01-03T00:00:00Z');
    await fn(bob, 'add', '2026-01-01T00:00:00Z');
    const ep = async (owner: string, name: string, at: string, deleted = false) => {
      const id = randomUUID();
      await q(
        `INSERT INTO endpoints (id, owner_id, name, created_at, deleted_at) VALUES ($1::uuid, $2::uuid, $3, $4::timestamptz, $5::timestamptz)`,
        id,
        owner,
        name,
        at,
        deleted ? at : null,
      );
      return id;
    };
    const first = await ep(alice, 'gpu', '2026-01-01T00:00:00Z');
    const second = await ep(alice, 'gpu', '2026-01-02T00:00:00Z');
    const gone = await ep(alice, 'gpu', '2026-01-03T00:00:00Z', true);
    const bobs = await ep(bob, 'gpu', '2026-01-01T00:00:00Z');

    await cp(path.join(source, NAMES), path.join(migrations.path, NAMES), { recursive: true });
    await expect(db.migrate()).resolves.toEqual([NAMES]);

    const fns = await db.prisma.function.findMany({ orderBy: [{ ownerId: 'asc' }, { createdAt: 'asc' }] });
    expect(fns.filter((f) => f.ownerId === alice).map((f) => f.version)).toEqual([1, 2, 3]);
    expect(fns.filter((f) => f.ownerId === bob).map((f) => f.version)).toEqual([1]);
    const names = new Map((await db.prisma.endpoint.findMany()).map((e) => [e.id, e.name]));
    expect([names.get(first), names.get(gone), names.get(bobs)]).toEqual(['gpu', 'gpu', 'gpu']);
    expect(names.get(second)).toBe(`gpu-${second.slice(0, 8)}`);
    // and from now on the database itself refuses a second live "gpu" for alice
    await expect(ep(alice, 'gpu', '2026-02-01T00:00:00Z')).rejects.toThrow();
    await expect(fn(alice, 'add', '2026-02-01T00:00:00Z')).rejects.toThrow(); // version 1 is taken
  });
});
