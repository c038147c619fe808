import { createHash, randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createTestDatabase, tempDir, type TempDir, type TestDatabase } from '@fx/testing';
import type { Database } from './database.js';
import { createDatabase } from './database.factory.js';

const INIT = '20261123000000_init';
const sourceMigrations = path.resolve('prisma/migrations');
/** Every migration in the repository, in the order they apply. */
const ALL = readdirSync(sourceMigrations)
  .filter((n) => /^\d{14}_/.test(n))
  .sort();

/** Opens the backend under test; reopen() gives a second handle on the same data (after close()). */
interface Backend {
  open(migrationsDir: string): Promise<Database>;
  cleanup(): Promise<void>;
}

async function postgresBackend(): Promise<Backend> {
  const testDb: TestDatabase = await createTestDatabase();
  const dir = await tempDir();
  return {
    open: (migrationsDir) => createDatabase({ databaseUrl: testDb.url, dataDir: dir.path, migrationsDir, poolSize: 4 }),
    async cleanup() {
      await testDb.drop();
      await dir.remove();
    },
  };
}

async function pgliteBackend(): Promise<Backend> {
  const dir = await tempDir();
  return {
    open: (migrationsDir) => createDatabase({ dataDir: dir.path, migrationsDir, embeddedStore: 'pglite' }),
    cleanup: () => dir.remove(),
  };
}

/** The default without DATABASE_URL: FX's own PostgreSQL server in the data directory. */
async function embeddedPostgresBackend(): Promise<Backend> {
  const dir = await tempDir();
  return {
    open: (migrationsDir) => createDatabase({ dataDir: dir.path, migrationsDir, embeddedStore: 'postgres', poolSize: 4 }),
    cleanup: () => dir.remove(),
  };
}

interface TaskRow {
  id: string;
  status: string;
  attempt: number;
  args: unknown;
  result: unknown;
  completed_at: Date | null;
  received_at: Date;
}

describe.each([
  ['postgres', postgresBackend],
  ['pglite', pgliteBackend],
  ['embedded-postgres', embeddedPostgresBackend],
] as const)('%s database', (kind, makeBackend) => {
  let backend: Backend;
  let migrations: TempDir; // a copy, so that tests can edit and add migrations
  let db: Database;

  beforeAll(async () => {
    backend = await makeBackend();
    migrations = await tempDir('fx-migrations');
    await cp(sourceMigrations, migrations.path, { recursive: true });
    db = await backend.open(migrations.path);
  }, 60_000);

  afterAll(async () => {
    await db?.close();
    await backend?.cleanup();
    await migrations?.remove();
  });

  it('is the expected kind and answers', async () => {
    expect(db.kind).toBe(kind);
    await expect(db.health()).resolves.toBe(true);
  });

  it('applies the init migration and records it as Prisma does', async () => {
    await expect(db.migrate()).resolves.toEqual(ALL);
    const file = await readFile(path.join(migrations.path, INIT, 'migration.sql'));
    const rows = await db.prisma.$queryRawUnsafe<Array<Record<string, unknown>>>(
      `SELECT id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count
         FROM "_prisma_migrations" WHERE migration_name = $1`,
      INIT,
    );
    expect(rows).toEqual([
      {
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        checksum: createHash('sha256').update(file).digest('hex'),
        finished_at: expect.any(Date),
        migration_name: INIT,
        logs: null,
        rolled_back_at: null,
        started_at: expect.any(Date),
        applied_steps_count: 1,
      },
    ]);
    const tables = await db.prisma.$queryRawUnsafe<Array<{ t: string }>>(
      `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
    );
    expect(tables.map((r) => r.t)).toEqual([
      '_prisma_migrations',
      'audit_log',
      'endpoint_blocks',
      'endpoint_group_members',
      'endpoint_groups',
      'endpoints',
      'functions',
      'object_blobs',
      'object_uploads',
      'objects',
      'task_attempts',
      'task_cache',
      'task_copies',
      'task_dependencies',
      'task_groups',
      'task_logs',
      'task_objects',
      'tasks',
      'tokens',
      'trigger_firings',
      'triggers',
      'usage_records',
      'users',
    ]);
  });

  it('applies nothing the second time', async () => {
    await expect(db.migrate()).resolves.toEqual([]);
    const [{ n }] = await db.prisma.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM "_prisma_migrations"`);
    expect(n).toBe(ALL.length);
  });

  it('refuses a migration edited after it was applied, naming it', async () => {
    const file = path.join(migrations.path, INIT, 'migration.sql');
    const original = await readFile(file);
    await writeFile(file, Buffer.concat([original, Buffer.from('\n-- edited\n')]));
    try {
      await expect(db.migrate()).rejects.toThrow(new RegExp(`migration ${INIT} was modified after it was applied`));
    } finally {
      await writeFile(file, original);
    }
    await expect(db.migrate()).resolves.toEqual([]);
  });

  it('rolls back a failing migration whole and records nothing', async () => {
    const name = '20990101000000_broken';
    await mkdir(path.join(migrations.path, name));
    await writeFile(path.join(migrations.path, name, 'migration.sql'), 'CREATE TABLE "half_done" (id int);\nSELECT no_such_function();\n');
    try {
      await expect(db.migrate()).rejects.toThrow(/migration 20990101000000_broken failed and was rolled back: .*no_such_function/);
      const [{ t }] = await db.prisma.$queryRawUnsafe<Array<{ t: string | null }>>(`SELECT to_regclass('half_done')::text AS t`);
      expect(t).toBeNull();
      const [{ n }] = await db.prisma.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM "_prisma_migrations"`);
      expect(n).toBe(ALL.length);
    } finally {
      await rm(path.join(migrations.path, name), { recursive: true });
    }
  });

  it('applies a new migration after the ones already applied', async () => {
    const name = '20990102000000_add_note';
    await mkdir(path.join(migrations.path, name));
    await writeFile(path.join(migrations.path, name, 'migration.sql'), 'CREATE TABLE "note" (id int PRIMARY KEY);\nINSERT INTO "note" VALUES (1), (2);\n');
    await expect(db.migrate()).resolves.toEqual([name]);
    const [{ n }] = await db.prisma.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM "note"`);
    expect(n).toBe(2);
    await expect(db.migrate()).resolves.toEqual([]);
  });

  it('round-trips models through Prisma, uuid[] and Json included', async () => {
    const user = await db.prisma.user.create({ data: { name: `u-${randomUUID()}` } });
    const fnId = randomUUID();
    const endpoint = await db.prisma.endpoint.create({
      data: {
        ownerId: user.id,
        name: 'hpc',
        allowedFunctions: [fnId],
        agent: { version: '0.1.0', host: 'login1', cores: 16 },
      },
    });
    const found = await db.prisma.user.findUniqueOrThrow({ where: { id: user.id }, include: { endpoints: true } });
    expect(found.createdAt).toBeInstanceOf(Date);
    expect(found.endpoints).toHaveLength(1);
    expect(found.endpoints[0]).toMatchObject({
      id: endpoint.id,
      allowedFunctions: [fnId],
      agent: { version: '0.1.0', host: 'login1', cores: 16 },
      restricted: false,
      connectedAt: null,
    });
  });

  it('rolls back an interactive transaction that throws', async () => {
    const name = `tx-${randomUUID()}`;
    await expect(
      db.prisma.$transaction(async (tx) => {
        await tx.user.create({ data: { name } });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await db.prisma.user.findUnique({ where: { name } })).toBeNull();
  });

  it('inserts many rows in one unnest statement and batch-updates them from VALUES with jsonb params', async () => {
    const owner = randomUUID();
    const ids = Array.from({ length: 1000 }, () => randomUUID());
    const args = ids.map((id, i) => JSON.stringify([i, { id, quote: 'it\'s "x"\\' }]));
    const inserted = await db.prisma.$executeRawUnsafe(
      `INSERT INTO tasks (id, owner_id, function_id, endpoint_id, status, args, kwargs)
       SELECT t.id, $2::uuid, $2::uuid, $2::uuid, 'waiting-for-endpoint', t.args, '{}'::jsonb
         FROM unnest($1::uuid[], $3::jsonb[]) AS t(id, args)`,
      ids,
      owner,
      args,
    );
    expect(inserted).toBe(1000);

    // One statement per results frame; a task already final keeps its first result.
    await db.prisma.$executeRawUnsafe(`UPDATE tasks SET status = 'success', result = '"first"' WHERE id = $1::uuid`, ids[2]);
    const values = [ids[0], ids[1], ids[2]];
    const updated = await db.prisma.$executeRawUnsafe(
      `UPDATE tasks AS t SET status = v.status, result = v.result, completed_at = now()
         FROM (VALUES ($1::uuid, $2::text, $3::jsonb), ($4::uuid, $5::text, $6::jsonb), ($7::uuid, $8::text, $9::jsonb))
              AS v(id, status, result)
        WHERE t.id = v.id AND t.status NOT IN ('success', 'failed', 'cancelled')`,
      values[0],
      'success',
      JSON.stringify({ value: 42 }),
      values[1],
      'failed',
      JSON.stringify(null),
      values[2],
      'success',
      JSON.stringify('second'),
    );
    expect(updated).toBe(2);

    const rows = await db.prisma.$queryRawUnsafe<TaskRow[]>(
      `SELECT id, status, attempt, args, result, completed_at, received_at
         FROM tasks WHERE id = ANY($1::uuid[]) ORDER BY args->>0 ASC`,
      values,
    );
    expect(rows).toEqual([
      {
        id: ids[0],
        status: 'success',
        attempt: 0,
        args: [0, { id: ids[0], quote: 'it\'s "x"\\' }],
        result: { value: 42 },
        completed_at: expect.any(Date),
        received_at: expect.any(Date),
      },
      {
        id: ids[1],
        status: 'failed',
        attempt: 0,
        args: [1, { id: ids[1], quote: 'it\'s "x"\\' }],
        result: null, // JSON null is stored as jsonb 'null' and comes back as null
        completed_at: expect.any(Date),
        received_at: expect.any(Date),
      },
      {
        id: ids[2],
        status: 'success',
        attempt: 0,
        args: [2, { id: ids[2], quote: 'it\'s "x"\\' }],
        result: 'first',
        completed_at: null,
        received_at: expect.any(Date),
      },
    ]);

    const [counts] = await db.prisma.$queryRawUnsafe<Array<{ total: bigint; done: number }>>(
      `SELECT count(*) AS total, count(*) FILTER (WHERE status = 'success')::int AS done FROM tasks WHERE owner_id = $1::uuid`,
      owner,
    );
    expect(counts).toEqual({ total: 1000n, done: 2 });

    const returned = await db.prisma.$queryRawUnsafe<Array<{ id: string; attempt: number }>>(
      `UPDATE tasks SET attempt = attempt + 1 WHERE id = ANY($1::uuid[]) RETURNING id, attempt`,
      ids.slice(0, 3),
    );
    expect(returned.map((r) => r.attempt)).toEqual([1, 1, 1]);

    // Prisma sees the raw rows as model rows
    const task = await db.prisma.task.findUniqueOrThrow({ where: { id: ids[0] } });
    expect(task).toMatchObject({ status: 'success', attempt: 1, result: { value: 42 }, endpointId: owner });
  });

  it('keeps its data across close and reopen', async () => {
    const name = `persist-${randomUUID()}`;
    await db.prisma.user.create({ data: { name } });
    await db.close();
    await expect(db.health()).resolves.toBe(false);
    await db.close(); // idempotent
    db = await backend.open(migrations.path);
    await expect(db.migrate()).resolves.toEqual([]);
    await expect(db.prisma.user.findUnique({ where: { name } })).resolves.toMatchObject({ name });
    // reopening starts a store (PGlite loads its WASM and data dir; embedded PostgreSQL starts a server),
    // which is seconds on a loaded machine, as beforeAll's first open is
  }, 60_000);
});

describe('postgres migrations from two replicas at once', () => {
  it('applies each migration exactly once', async () => {
    const testDb = await createTestDatabase();
    const dir = await tempDir();
    const open = () => createDatabase({ databaseUrl: testDb.url, dataDir: dir.path, migrationsDir: sourceMigrations });
    const [a, b] = await Promise.all([open(), open()]);
    try {
      const results = await Promise.all([a.migrate(), b.migrate()]);
      expect(results.flat().sort()).toEqual(ALL);
      const [{ n }] = await a.prisma.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM "_prisma_migrations"`);
      expect(n).toBe(ALL.length);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await testDb.drop();
      await dir.remove();
    }
  });

  it('refuses to start with the driver error when PostgreSQL is unreachable', async () => {
    const dir = await tempDir();
    const db = await createDatabase({
      databaseUrl: 'postgresql://postgres@127.0.0.1:1/none',
      dataDir: dir.path,
      migrationsDir: sourceMigrations,
    });
    try {
      await expect(db.health()).resolves.toBe(false);
      await expect(db.migrate()).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      await db.close();
      await dir.remove();
    }
  });
});
