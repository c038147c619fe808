import { randomBytes, randomUUID } from 'node:crypto';
import { cleanupRedisPrefix, createTestDatabase, randomPrefix, tempDir, testRedisUrl } from '@fx/testing';
import { loadConfig } from '../../config/env.js';
import { startServer } from '../../server.js';
import { BACKENDS, startTestServer, type TestServer } from '../../testing/test-server.js';
import { recordRowsRead } from '../../testing/rows-read.js';
import { TasksRepository } from './tasks.repository.js';

/**
 * POST /v1/tasks/results over plain HTTP, on both stores, against a real server: outcomes of the
 * caller's tasks only, the long-poll answering on the 'results' event (tasks are made final here by
 * cancelling them, which publishes their outcomes like any other finish), the per-user bound on
 * waiting calls, and the response byte budget.
 */
type Api = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;
const rest =
  (url: string, token: string): Api =>
  async (method, path, body) => {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };

describe.each(BACKENDS)('POST /v1/tasks/results (%s)', (backend) => {
  let server: TestServer;
  let alice: Api;
  let bob: Api;
  let fn: string;
  let ep: string;

  const submit = async (n: number): Promise<string[]> => {
    const r = await alice('POST', '/v1/tasks/batch', { endpointId: ep, tasks: Array.from({ length: n }, (_, i) => ({ functionId: fn, args: [i] })) });
    expect(r.status).toBe(201);
    return r.body.taskIds;
  };

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_MAX_LONG_POLLS_PER_USER: '2', FX_MAX_RESULTS_RESPONSE_BYTES: '1024', FX_RATE_LIMIT_PER_SECOND: '0' });
    const admin = rest(server.url, server.adminToken);
    const mk = async (name: string) => {
      const u = await admin('POST', '/v1/users', { name });
      return rest(server.url, (await admin('POST', `/v1/users/${u.body.id}/tokens`, { name: 't' })).body.token);
    };
    alice = await mk('alice');
    bob = await mk('bob');
    fn = (await alice('POST', '/v1/functions', { name: 'id', runtime: 'js', source: '(x) => x' })).body.id;
    ep = (await alice('POST', '/v1/endpoints', { name: 'nowhere' })).body.endpoint.id;
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  it("answers at once without waitMs: statuses, outcomes of final tasks, others' and unknown ids in notFound", async () => {
    const [a, b] = await submit(2);
    expect((await alice('POST', `/v1/tasks/${b}/cancel`)).body.cancelled).toBe(true);
    const unknown = '00000000-0000-4000-8000-000000000000';
    const r = await alice('POST', '/v1/tasks/results', { taskIds: [a, b, unknown] });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ notFound: [unknown], final: 1 });
    expect(r.body.tasks).toEqual([
      { taskId: a, status: 'waiting-for-endpoint', attempt: 0 },
      { taskId: b, status: 'cancelled', attempt: 0, error: expect.objectContaining({ code: 'TASK_CANCELLED' }), completedAt: expect.any(String) },
    ]);
    const other = await bob('POST', '/v1/tasks/results', { taskIds: [a, b] });
    expect(other.body).toEqual({ tasks: [], notFound: [a, b], final: 0 });
  });

  it("reads nothing of another user's task for their GET or cancel of it: the owner is part of the statement", async () => {
    const marker = `secret-${randomUUID()}`;
    const r = await alice('POST', '/v1/tasks/batch', { endpointId: ep, tasks: [{ functionId: fn, args: [marker] }] });
    const [id] = r.body.taskIds as string[];
    const { read, restore } = recordRowsRead(server.app.get(TasksRepository));
    try {
      expect((await bob('GET', `/v1/tasks/${id}`)).status).toBe(404);
      expect((await bob('POST', `/v1/tasks/${id}/cancel`)).status).toBe(404);
      expect(JSON.stringify(read)).not.toContain(marker);
      // the owner's own read goes through the same statement
      expect((await alice('GET', `/v1/tasks/${id}`)).body.args).toEqual([marker]);
      expect(JSON.stringify(read)).toContain(marker);
    } finally {
      restore();
    }
  });

  it('long-polls: answers when one of the tasks becomes final, woken by the results event', async () => {
    const [a, b] = await submit(2);
    const started = Date.now();
    const poll = alice('POST', '/v1/tasks/results', { taskIds: [a, b], waitMs: 60_000 });
    await new Promise((r) => setTimeout(r, 500));
    await alice('POST', `/v1/tasks/${b}/cancel`);
    const r = await poll;
    // answered on the event, not at the end of its 60 s wait
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(r.body.final).toBe(1);
    expect(r.body.tasks.find((t: { taskId: string }) => t.taskId === b)).toMatchObject({ status: 'cancelled' });
    expect(r.body.tasks.find((t: { taskId: string }) => t.taskId === a)).toEqual({ taskId: a, status: 'waiting-for-endpoint', attempt: 0 });
  });

  it('answers at once when a task is already final, and after waitMs with nothing final', async () => {
    const [a, b] = await submit(2);
    await alice('POST', `/v1/tasks/${b}/cancel`);
    const started = Date.now();
    expect((await alice('POST', '/v1/tasks/results', { taskIds: [a, b], waitMs: 60_000 })).body.final).toBe(1);
    expect(Date.now() - started).toBeLessThan(30_000);

    const waitStarted = Date.now();
    const r = await alice('POST', '/v1/tasks/results', { taskIds: [a], waitMs: 600 });
    expect(Date.now() - waitStarted).toBeGreaterThanOrEqual(550);
    expect(r.body).toEqual({ tasks: [{ taskId: a, status: 'waiting-for-endpoint', attempt: 0 }], notFound: [], final: 0 });
  });

  it("is not woken into leaking another user's task: bob waits on alice's id and gets notFound", async () => {
    const [a] = await submit(1);
    const poll = bob('POST', '/v1/tasks/results', { taskIds: [a], waitMs: 1500 });
    await new Promise((r) => setTimeout(r, 300));
    await alice('POST', `/v1/tasks/${a}/cancel`);
    expect((await poll).body).toEqual({ tasks: [], notFound: [a], final: 0 });
  });

  it('bounds waiting calls per user (429 RATE_LIMITED), and frees the slot when a call answers', async () => {
    const [a] = await submit(1);
    const first = alice('POST', '/v1/tasks/results', { taskIds: [a], waitMs: 2000 });
    const second = alice('POST', '/v1/tasks/results', { taskIds: [a], waitMs: 2000 });
    await new Promise((r) => setTimeout(r, 400));
    const third = await alice('POST', '/v1/tasks/results', { taskIds: [a], waitMs: 2000 });
    expect(third.status).toBe(429);
    expect(third.body).toMatchObject({ code: 'RATE_LIMITED', message: expect.stringMatching(/FX_MAX_LONG_POLLS_PER_USER/) });
    // another user is not bound by alice's calls, and asking without waitMs is never refused
    expect((await bob('POST', '/v1/tasks/results', { taskIds: [a], waitMs: 100 })).status).toBe(200);
    expect((await alice('POST', '/v1/tasks/results', { taskIds: [a] })).status).toBe(200);
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect((await alice('POST', '/v1/tasks/results', { taskIds: [a], waitMs: 100 })).status).toBe(200);
  });

  it('keeps an answer within the byte budget: outcomes past it are marked resultOmitted', async () => {
    const ids = await submit(30);
    for (const id of ids) await alice('POST', `/v1/tasks/${id}/cancel`);
    const r = await alice('POST', '/v1/tasks/results', { taskIds: ids });
    expect(r.body.final).toBe(30);
    const omitted = r.body.tasks.filter((t: { resultOmitted?: boolean }) => t.resultOmitted);
    const carried = r.body.tasks.filter((t: { error?: unknown }) => t.error);
    expect(carried.length).toBeGreaterThan(0);
    expect(omitted.length).toBeGreaterThan(0);
    expect(carried.length + omitted.length).toBe(30);
    const again = await alice('POST', '/v1/tasks/results', { taskIds: omitted.map((t: { taskId: string }) => t.taskId) });
    expect(again.body.tasks.filter((t: { error?: unknown }) => t.error).length).toBeGreaterThan(0);
  });

  it('refuses bad requests with a code and a sentence', async () => {
    expect((await alice('POST', '/v1/tasks/results', { taskIds: [] })).body.code).toBe('VALIDATION_FAILED');
    expect((await alice('POST', '/v1/tasks/results', { taskIds: ['00000000-0000-4000-8000-000000000000'], waitMs: 60_001 })).body.code).toBe(
      'VALIDATION_FAILED',
    );
    expect((await alice('POST', '/v1/tasks/results', { taskIds: ['x'] })).status).toBe(400);
    // 10,000 ids is the most one call takes
    const many = Array.from({ length: 10_000 }, () => randomUUID());
    const atMost = await alice('POST', '/v1/tasks/results', { taskIds: many });
    expect([atMost.status, atMost.body.notFound.length, atMost.body.final]).toEqual([200, 10_000, 0]);
    expect((await alice('POST', '/v1/tasks/results', { taskIds: [...many, randomUUID()] })).body.code).toBe('VALIDATION_FAILED');
  });
});

describe('POST /v1/tasks/results across replicas (postgres+redis)', () => {
  it('a long-poll on one replica is woken by an outcome recorded on another', async () => {
    const db = await createTestDatabase();
    const prefix = randomPrefix();
    const dirs = [await tempDir('fx-replica-a'), await tempDir('fx-replica-b')];
    const env = (dir: string) =>
      loadConfig({
        PORT: '0',
        FX_DATA_DIR: dir,
        FX_LOG_LEVEL: 'warn',
        FX_REDIS_PREFIX: prefix,
        DATABASE_URL: db.url,
        REDIS_URL: testRedisUrl(),
        DATABASE_POOL_SIZE: '4',
      });
    const key = randomBytes(32).toString('hex');
    const a = await startServer({ ...env(dirs[0]!.path), FX_SIGNING_KEY: key });
    const b = await startServer({ ...env(dirs[1]!.path), FX_SIGNING_KEY: key });
    try {
      const onA = rest(a.url, a.adminToken!);
      const onB = rest(b.url, a.adminToken!);
      const fn = (await onA('POST', '/v1/functions', { name: 'f', runtime: 'js', source: '(x) => x' })).body.id;
      const ep = (await onA('POST', '/v1/endpoints', { name: 'far' })).body.endpoint.id;
      const { taskIds } = (await onA('POST', '/v1/tasks/batch', { endpointId: ep, tasks: [{ functionId: fn }, { functionId: fn }] })).body;
      const started = Date.now();
      const poll = onB('POST', '/v1/tasks/results', { taskIds, waitMs: 60_000 });
      await new Promise((r) => setTimeout(r, 500));
      expect((await onA('POST', `/v1/tasks/${taskIds[1]}/cancel`)).body.cancelled).toBe(true);
      const answer = await poll;
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(answer.body).toMatchObject({ final: 1, notFound: [] });
      expect(answer.body.tasks[1]).toMatchObject({ taskId: taskIds[1], status: 'cancelled' });
    } finally {
      await b.close();
      await a.close();
      await db.drop();
      await cleanupRedisPrefix(testRedisUrl(), prefix);
      for (const d of dirs) await d.remove();
    }
  }, 90_000);
});
