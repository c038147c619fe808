import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createTestDatabase, eventually, type TestDatabase } from '@fx/testing';
import { startTestServer, rest, type TestServer } from '../../apps/server/src/testing/test-server.js';
import { FRAME_POLL, RawSocket, mkUser, type TestUser } from './channels.fixture.js';

/**
 * Issue 18: tasks may be submitted over the client socket (`submit` frames). A tenant must not be able
 * to do there anything REST refuses: each refusal below is compared with REST's answer to the same
 * body and token (same code), and nothing refused is stored.
 */
jest.setTimeout(120_000);

const RATE = { FX_RATE_LIMIT_PER_SECOND: '1', FX_RATE_LIMIT_BURST: '20' };
const MAX_REQUEST_BYTES = 8 * 1024;

let server: TestServer;
let db: TestDatabase;
let alice: TestUser;
let bob: TestUser;
let aliceFn: string;
let aliceEp: string;
let bobFn: string;
let bobEp: string;

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

const taskCount = async (userId: string) => Number((await sql<{ n: string }>('SELECT count(*) AS n FROM tasks WHERE owner_id = $1', [userId]))[0]!.n);

async function fnAndEndpoint(u: TestUser): Promise<[string, string]> {
  const fn = await u.api('POST', '/v1/functions', { name: 'f', runtime: 'js', source: `(x) => x /* ${randomBytes(4).toString('hex')} */` });
  const ep = await u.api('POST', '/v1/endpoints', { name: `e${randomBytes(3).toString('hex')}` });
  if (fn.status !== 201 || ep.status !== 201) throw new Error(`fixture: ${fn.status} ${ep.status}`);
  return [fn.body.id, ep.body.endpoint.id];
}

/** A fresh token of bob's and an open client socket with it. */
async function bobSocket(name: string): Promise<{ s: RawSocket; token: string; tokenId: string; before: number }> {
  const t = await rest(server.url, server.adminToken)('POST', `/v1/users/${bob.id}/tokens`, { name });
  const s = RawSocket.open(server.url, '/v1/ws/client', t.body.token);
  await s.ready();
  return { s, token: t.body.token, tokenId: t.body.info.id, before: await taskCount(bob.id) };
}

/** The `submitted` or `error` frame that answers frame `id`. */
const answerTo = (s: RawSocket, id: string) =>
  eventually(() => s.frames.find((f) => f.id === id && (f.type === 'submitted' || f.type === 'error')), 10_000, `the answer to ${id}`, FRAME_POLL);

/** Opens a client socket with the token, sends one submit frame and returns its answer (`submitted` or `error`). */
async function submitOver(token: string, payload: unknown): Promise<{ type: string; payload: any; id?: string }> {
  const s = RawSocket.open(server.url, '/v1/ws/client', token);
  await s.ready();
  try {
    s.send('submit', payload, 'f1');
    return await answerTo(s, 'f1');
  } finally {
    s.close();
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startTestServer('postgres+redis', { FX_LOG_LEVEL: 'error', DATABASE_URL: db.url, FX_MAX_REQUEST_BYTES: String(MAX_REQUEST_BYTES), ...RATE });
  alice = await mkUser(server, 'alice');
  bob = await mkUser(server, 'bob');
  [aliceFn, aliceEp] = await fnAndEndpoint(alice);
  [bobFn, bobEp] = await fnAndEndpoint(bob);
});

afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

describe('submit frames are held to what REST allows', () => {
  it("accepts the owner's own task, as REST does", async () => {
    const before = await taskCount(alice.id);
    const answer = await submitOver(alice.token, { task: { functionId: aliceFn, endpointId: aliceEp, args: [1] } });
    expect(answer).toMatchObject({ type: 'submitted', payload: { task: { taskId: expect.any(String) } } });
    expect(await taskCount(alice.id)).toBe(before + 1);
  });

  it.each([
    ['a foreign function', () => ({ functionId: aliceFn, endpointId: bobEp, args: [1] })],
    ['a foreign endpoint', () => ({ functionId: bobFn, endpointId: aliceEp, args: [1] })],
  ])('refuses %s with the code REST answers, and stores nothing', async (_what, body) => {
    const before = await taskCount(bob.id);
    const viaRest = await bob.api('POST', '/v1/tasks', body());
    expect(viaRest.status).toBe(404);
    const single = await submitOver(bob.token, { task: body() });
    expect(single).toMatchObject({ type: 'error', payload: { code: viaRest.body.code } });
    const { endpointId, ...item } = body();
    const batchRest = await bob.api('POST', '/v1/tasks/batch', { endpointId, tasks: [item] });
    const batch = await submitOver(bob.token, { batch: { endpointId, tasks: [item] } });
    expect(batchRest.status).toBe(404);
    expect(batch).toMatchObject({ type: 'error', payload: { code: batchRest.body.code } });
    expect(await taskCount(bob.id)).toBe(before);
  });

  it("refuses an invalid body with REST's VALIDATION_FAILED sentence", async () => {
    const body = { functionId: bobFn, endpointId: bobEp, args: 'not an array' };
    const viaRest = await bob.api('POST', '/v1/tasks', body);
    const viaSocket = await submitOver(bob.token, { task: body });
    expect(viaRest.status).toBe(400);
    expect(viaSocket).toMatchObject({ type: 'error', payload: { code: 'VALIDATION_FAILED', message: viaRest.body.message } });
  });

  it('refuses a frame over FX_MAX_REQUEST_BYTES with PAYLOAD_TOO_LARGE (REST: 413), and a frame over the frame limit closes the socket', async () => {
    const before = await taskCount(bob.id);
    const body = { functionId: bobFn, endpointId: bobEp, args: ['x'.repeat(MAX_REQUEST_BYTES)] };
    expect((await bob.api('POST', '/v1/tasks', body)).status).toBe(413);
    expect(await submitOver(bob.token, { task: body })).toMatchObject({ type: 'error', payload: { code: 'PAYLOAD_TOO_LARGE' } });
    const s = RawSocket.open(server.url, '/v1/ws/client', bob.token);
    await s.ready();
    s.send('submit', { task: { ...body, args: ['x'.repeat(2 * 1024 * 1024)] } }, 'f2');
    expect((await s.waitClosed()).code).toBe(1009);
    expect(await taskCount(bob.id)).toBe(before);
  });

  it('refuses a token revoked while its socket is open, even before the revocation event closes it', async () => {
    const { s, token, tokenId, before } = await bobSocket('spare');
    // revoked in the database alone: no cluster event, so only the per-frame check stands in the way
    await sql('UPDATE tokens SET revoked_at = now() WHERE id = $1', [tokenId]);
    s.send('submit', { task: { functionId: bobFn, endpointId: bobEp, args: [1] } }, 'f3');
    expect(await s.next('error', 10_000, (f) => f.id === 'f3')).toMatchObject({ payload: { code: 'UNAUTHENTICATED', message: 'token has been revoked' } });
    expect((await s.waitClosed()).code).toBe(4401);
    expect((await rest(server.url, token)('POST', '/v1/tasks', { functionId: bobFn, endpointId: bobEp, args: [1] })).status).toBe(401);
    expect(await taskCount(bob.id)).toBe(before);
  });

  it("answers a revoked token's refusal whatever else the frame gets wrong (the token is checked alongside the submission's reads)", async () => {
    const bodies = [
      { functionId: aliceFn, endpointId: bobEp, args: [1] }, // a foreign function: NOT_FOUND for a live token
      { functionId: bobFn, endpointId: bobEp, args: 'not an array' }, // VALIDATION_FAILED for a live token
    ];
    for (const [i, body] of bodies.entries()) {
      const { s, tokenId, before } = await bobSocket(`spare-${i}`);
      await sql('UPDATE tokens SET revoked_at = now() WHERE id = $1', [tokenId]);
      s.send('submit', { task: body }, 'g1');
      expect(await answerTo(s, 'g1')).toMatchObject({ type: 'error', payload: { code: 'UNAUTHENTICATED', message: 'token has been revoked' } });
      expect((await s.waitClosed()).code).toBe(4401);
      expect(await taskCount(bob.id)).toBe(before);
    }
  });

  it('pushes the outcome of a watched submission to its socket (watched from its commit)', async () => {
    const { s } = await bobSocket('watcher');
    s.send('submit', { watch: true, task: { functionId: bobFn, endpointId: bobEp, args: [1] } }, 'w1');
    const answer = await answerTo(s, 'w1');
    const taskId = answer.payload.task.taskId as string;
    expect((await bob.api('POST', `/v1/tasks/${taskId}/cancel`)).status).toBeLessThan(300);
    const pushed = await s.next('result', 10_000, (f) => f.payload.results.some((r: { taskId: string }) => r.taskId === taskId));
    expect(pushed.payload.results.find((r: { taskId: string }) => r.taskId === taskId)).toMatchObject({ status: 'cancelled' });
    s.close();
  });

  it("takes from the token's REST rate-limit bucket: past the burst RATE_LIMITED, and REST is limited by what the socket spent", async () => {
    const { s, token, before } = await bobSocket('burst');
    for (let i = 0; i < 30; i++) s.send('submit', { task: { functionId: bobFn, endpointId: bobEp, args: [i] } }, `r${i}`);
    await eventually(() => s.frames.filter((f) => f.id?.startsWith('r')).length === 30, 10_000, '30 answers', FRAME_POLL);
    const spentAt = Date.now();
    const answers = s.frames.filter((f) => f.id?.startsWith('r'));
    const limited = answers.filter((f) => f.type === 'error');
    expect(limited.length).toBeGreaterThanOrEqual(5);
    for (const l of limited) expect(l.payload).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfterSeconds: expect.any(Number) } });
    expect(await taskCount(bob.id)).toBe(before + answers.length - limited.length);
    // the same bucket: REST with this token is limited right after. The bucket refills one a second, so
    // ask for more than came back since the socket spent it (a bucket of REST's own would allow 20)
    const asks = Math.ceil((Date.now() - spentAt) / 1000) + 2;
    expect(asks).toBeLessThan(20);
    const statuses: number[] = [];
    for (let i = 0; i < asks; i++)
      statuses.push((await rest(server.url, token)('POST', '/v1/tasks', { functionId: bobFn, endpointId: bobEp, args: [9] })).status);
    expect(statuses).toContain(429);
    s.close();
  });
});
