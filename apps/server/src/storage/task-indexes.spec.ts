import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createTestDatabase, tempDir, type TempDir, type TestDatabase } from '@fx/testing';
import type { Database } from './database.js';
import { createDatabase } from './database.factory.js';

/**
 * Migration 20261220001400_open_task_indexes made two indexes of the tasks table partial (open tasks;
 * completed ones) and dropped one that a partial index already covered. A partial index serves only
 * the statements whose WHERE implies its predicate: the planner is asked here, with sequential scans
 * off, which index it takes for the conditions the sweeps, the queue rebuild, retention, the console
 * and the dispatch counts use, on both stores the migrations run on.
 */
const FINAL = `('success', 'failed', 'cancelled')`;
const endpoint = randomUUID();

/** Condition (as the repositories write it) → the index the planner must be able to use for it. */
const USES: Array<[string, string, string]> = [
  ['lease sweep (leases.repository requeueHeld)', `status IN ('dispatched', 'running') AND lease_expires_at < now()`, 'tasks_open_status_lease_expires_at_idx'],
  ['queue rebuild (waitingTasks)', `status = 'waiting-for-endpoint' ORDER BY received_at, id LIMIT 10`, 'tasks_open_status_lease_expires_at_idx'],
  ['waiting dependents (dependencies.repository)', `status = 'waiting-for-dependencies' LIMIT 10`, 'tasks_open_status_lease_expires_at_idx'],
  ['retention (purgeCompletedBefore)', `status IN ${FINAL} AND completed_at < now() - interval '1 day' LIMIT 10`, 'tasks_completed_at_idx'],
  ['console throughput', `completed_at >= now() - interval '1 hour' AND status IN ('success', 'failed')`, 'tasks_completed_at_idx'],
  [
    'queue counts of an endpoint (countsForEndpoint)',
    `endpoint_id = '${endpoint}'::uuid AND status IN ('waiting-for-endpoint', 'dispatched', 'running')`,
    'tasks_open_endpoint_status_idx',
  ],
  ['open tasks of a deleted endpoint (failForEndpoint)', `endpoint_id = '${endpoint}'::uuid AND status NOT IN ${FINAL}`, 'tasks_open_endpoint_status_idx'],
];

describe.each(['postgres', 'pglite'] as const)('indexes of the tasks table on %s', (kind) => {
  let dir: TempDir;
  let testDb: TestDatabase | undefined;
  let db: Database;

  beforeAll(async () => {
    dir = await tempDir();
    if (kind === 'postgres') testDb = await createTestDatabase();
    db = await createDatabase({
      dataDir: dir.path,
      migrationsDir: path.resolve('prisma/migrations'),
      ...(testDb ? { databaseUrl: testDb.url, poolSize: 2 } : { embeddedStore: 'pglite' }),
    });
    await db.migrate();
    // mostly final tasks, as a table that has run for a while holds, and a few open ones of each kind
    await db.prisma.$executeRawUnsafe(
      `INSERT INTO tasks (id, owner_id, function_id, endpoint_id, status, args, kwargs, received_at, completed_at, lease_expires_at)
       SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), CASE WHEN i % 2 = 0 THEN $1::uuid ELSE gen_random_uuid() END, s,
              '[]', '{}', now() - i * interval '1 minute',
              CASE WHEN s IN ${FINAL} THEN now() - i * interval '1 minute' END,
              CASE WHEN s IN ('dispatched', 'running') THEN now() - interval '1 second' END
       FROM generate_series(1, 2000) i
       CROSS JOIN LATERAL (SELECT CASE WHEN i % 100 = 1 THEN (ARRAY['waiting-for-endpoint', 'dispatched', 'running', 'waiting-for-dependencies'])[1 + i / 100 % 4]
                                       WHEN i % 7 = 0 THEN 'failed' ELSE 'success' END AS s) x`,
      endpoint,
    );
    await db.prisma.$executeRawUnsafe('ANALYZE tasks');
  }, 60_000);

  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
    await dir?.remove();
  });

  it('keeps open tasks only in the status and lease index, completed ones only in the completion index', async () => {
    const rows = await db.prisma.$queryRawUnsafe<Array<{ indexname: string; indexdef: string }>>(
      `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tasks' AND schemaname = 'public'`,
    );
    const def = new Map(rows.map((r) => [r.indexname, r.indexdef]));
    expect(def.has('tasks_endpoint_id_status_idx')).toBe(false);
    expect(def.has('tasks_status_lease_expires_at_idx')).toBe(false);
    expect(def.get('tasks_open_status_lease_expires_at_idx')).toMatch(/\(status, lease_expires_at\) WHERE \(status <> ALL/);
    expect(def.get('tasks_completed_at_idx')).toMatch(/\(completed_at\) WHERE \(completed_at IS NOT NULL\)/);
    expect(def.get('tasks_open_endpoint_status_idx')).toMatch(/\(endpoint_id, status\) WHERE \(status <> ALL/);
  });

  it.each(USES)('serves %s through its partial index', async (_what, where, index) => {
    const plan = await db.prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe('SET LOCAL enable_seqscan = off');
      return tx.$queryRawUnsafe<Array<{ 'QUERY PLAN': string }>>(`EXPLAIN SELECT id FROM tasks WHERE ${where}`);
    });
    expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toContain(index);
  });

  it('answers the open states from the partial index as from the table', async () => {
    const count = (where: string) =>
      db.prisma.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM tasks WHERE ${where}`).then((r) => Number(r[0]!.n));
    const held = `status IN ('dispatched', 'running') AND lease_expires_at < now()`;
    const viaIndex = await db.prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe('SET LOCAL enable_seqscan = off');
      return Number((await tx.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM tasks WHERE ${held}`))[0]!.n);
    });
    expect(viaIndex).toBe(10);
    expect(await count(`status || '' IN ('dispatched', 'running') AND lease_expires_at < now()`)).toBe(viaIndex);
  });
});
