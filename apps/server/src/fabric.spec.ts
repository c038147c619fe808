import { jest } from '@jest/globals';
import WebSocket from 'ws';
import { ENDPOINT_PROTOCOL_VERSION, encodeFrame, parseFrame, ServerToClientSchemas, type ClientToServer } from '@fx/protocol';
import { eventually as eventuallyWithin } from '@fx/testing';
import { BACKENDS, rest, startTestServer, type TestServer } from './testing/test-server.js';
import { ProtocolPeer } from './testing/protocol-peer.js';

jest.setTimeout(60_000);

/** Waits for a condition ten times a second; for state that settles asynchronously. */
const eventually = <T>(fn: () => Promise<T>) => eventuallyWithin(fn, 15_000, 'condition', { intervalMs: 100 });

describe.each(BACKENDS)('FX server on %s', (backend) => {
  let server: TestServer;
  let admin: ReturnType<typeof rest>;
  let fnId: string;
  let epId: string;
  let epToken: string;

  beforeAll(async () => {
    server = await startTestServer(backend, {
      FX_MAX_BATCH_TASKS: '50',
      FX_MAX_REQUEST_BYTES: String(64 * 1024),
      FX_HEARTBEAT_INTERVAL_MS: '200',
      FX_HEARTBEAT_TIMEOUT_MS: '1500',
      FX_SWEEP_INTERVAL_MS: '200',
      FX_MAX_ATTEMPTS: '2',
    });
    admin = rest(server.url, server.adminToken);
    fnId = (await admin('POST', '/v1/functions', { name: 'add', runtime: 'js', source: '(a, b) => a + b' })).body.id;
  });
  afterAll(() => server?.stop());

  beforeEach(async () => {
    const res = await admin('POST', '/v1/endpoints', { name: `ep-${Math.random().toString(36).slice(2, 8)}` });
    expect(res.status).toBe(201);
    epId = res.body.endpoint.id;
    epToken = res.body.token;
  });

  const submit = async (n: number, args = (i: number) => [i, 1]) => {
    const res = await admin('POST', '/v1/tasks/batch', { endpointId: epId, tasks: Array.from({ length: n }, (_, i) => ({ functionId: fnId, args: args(i) })) });
    expect(res.status).toBe(201);
    return res.body.taskIds as string[];
  };

  describe('REST', () => {
    it('refuses missing, malformed, revoked and endpoint tokens, and non-admins on admin routes', async () => {
      expect((await rest(server.url)('GET', '/v1/functions')).body.code).toBe('UNAUTHENTICATED');
      expect((await rest(server.url, 'not.a.jwt')('GET', '/v1/functions')).status).toBe(401);
      expect((await rest(server.url, epToken)('GET', '/v1/functions')).status).toBe(403);

      const user = (await admin('POST', '/v1/users', { name: `u${Date.now()}` })).body;
      const { token, info } = (await admin('POST', `/v1/users/${user.id}/tokens`, { name: 'cli' })).body;
      const asUser = rest(server.url, token);
      expect((await asUser('GET', '/v1/whoami')).body.user.name).toBe(user.name);
      expect((await asUser('GET', '/v1/users')).status).toBe(403);
      // another user's things are 404, never 403 or 500
      expect((await asUser('GET', `/v1/functions/${fnId}`)).status).toBe(404);
      expect((await asUser('GET', `/v1/endpoints/${epId}`)).status).toBe(404);
      const [taskId] = await submit(1);
      expect((await asUser('GET', `/v1/tasks/${taskId}`)).status).toBe(404);
      expect((await asUser('POST', '/v1/tasks', { functionId: fnId, endpointId: epId })).status).toBe(404);

      expect((await admin('DELETE', `/v1/tokens/${info.id}`)).status).toBe(204);
      const revoked = await asUser('GET', '/v1/whoami');
      expect(revoked.status).toBe(401);
      expect(revoked.body.message).toMatch(/revoked/);
    });

    it('answers bad input with a 4xx code and a sentence', async () => {
      expect((await admin('POST', '/v1/tasks', '{not json')).body.code).toBe('VALIDATION_FAILED');
      const unknown = await admin('POST', '/v1/tasks', { functionId: fnId, endpointId: epId, extra: 1 });
      expect([unknown.status, unknown.body.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect((await admin('GET', '/v1/tasks/12345')).body.message).toMatch(/not a valid UUID/);
      const big = await admin('POST', '/v1/functions', { name: 'big', runtime: 'js', source: 'x'.repeat(100 * 1024) });
      expect([big.status, big.body.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
      const many = await admin('POST', '/v1/tasks/batch', { endpointId: epId, tasks: Array.from({ length: 51 }, () => ({ functionId: fnId })) });
      expect([many.status, many.body.code]).toEqual([413, 'BATCH_TOO_LARGE']);
      const name = await admin('POST', '/v1/functions', { name: '../etc', runtime: 'js', source: '()=>1' });
      expect(name.status).toBe(400);
    });

    it('refuses js source that would not compile on an endpoint, without running it (issue 11 item 5)', async () => {
      const broken = await admin('POST', '/v1/functions', { name: 'broken', runtime: 'js', source: '(a, b) => { return a +* b }' });
      expect([broken.status, broken.body.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect(broken.body.message).toMatch(/does not compile as a JavaScript function expression: Unexpected token/);
      // compiled, never run: a source with a side effect at evaluation is judged on its syntax alone
      for (const [name, source] of [
        ['arrow', '(a, b) => a + b'],
        ['method', 'add(a, b) { return a + b; }'],
        ['async', 'async function f(x) { return x; }'],
        ['effect', '(globalThis.__registered = true, () => 1)'],
      ]) {
        expect([name, (await admin('POST', '/v1/functions', { name: `syntax-${name}`, runtime: 'js', source })).status]).toEqual([name, 201]);
      }
      expect((globalThis as { __registered?: boolean }).__registered).toBeUndefined();
    });

    it('enforces an endpoint allow-list at submit', async () => {
      const other = (await admin('POST', '/v1/functions', { name: 'other', runtime: 'js', source: '() => 1' })).body.id;
      const ep = (await admin('POST', '/v1/endpoints', { name: 'strict', allowedFunctions: [fnId] })).body.endpoint.id;
      expect((await admin('POST', '/v1/tasks', { functionId: fnId, endpointId: ep })).status).toBe(201);
      const refused = await admin('POST', '/v1/tasks', { functionId: other, endpointId: ep });
      expect([refused.status, refused.body.code]).toEqual([403, 'FUNCTION_NOT_ALLOWED']);
    });

    it('serves OpenAPI and the probes', async () => {
      const doc = await rest(server.url)('GET', '/openapi.json');
      expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/v1/tasks/batch', '/v1/functions', '/v1/endpoints/{id}/status']));
      expect((await rest(server.url)('GET', '/readyz')).body.status).toBe('ready');
    });
  });

  describe('endpoint channel', () => {
    it('refuses another protocol version with a sentence, and user tokens', async () => {
      const peer = await ProtocolPeer.connect(server.url, epToken);
      peer.hello([], ENDPOINT_PROTOCOL_VERSION - 1);
      const err = await peer.next('error');
      expect(err.payload.code).toBe('UNSUPPORTED_PROTOCOL_VERSION');
      expect(err.payload.message).toMatch(new RegExp(`protocol version ${ENDPOINT_PROTOCOL_VERSION}`));
      await peer.waitClosed();

      const asUser = await ProtocolPeer.connect(server.url, server.adminToken);
      expect((await asUser.next('error')).payload.code).toBe('FORBIDDEN');
    });

    it('acks every results frame of a burst once, in order, recording each task once (frames are recorded together)', async () => {
      const ids = await submit(40);
      const peer = await ProtocolPeer.connect(server.url, epToken);
      peer.hello();
      await peer.next('welcome');
      peer.send('credits', { credits: 40 });
      const tasks = await peer.tasks(40);
      // 20 frames of 2 without waiting, plus one that repeats a task already in the burst
      const frames = Array.from({ length: 20 }, (_, i) =>
        tasks.slice(2 * i, 2 * i + 2).map((t) => ({ taskId: t.taskId, attempt: 0, status: 'success' as const, result: t.taskId, timings: {} })),
      );
      frames.push([{ ...frames[0]![0]!, result: 'late copy' }]);
      for (const results of frames) peer.send('results', { results });
      const acks: string[][] = [];
      for (let i = 0; i < frames.length; i++) acks.push((await peer.next('ack')).payload.taskIds);
      expect(acks).toEqual(frames.map((f) => f.map((r) => r.taskId)));
      const statuses = (await admin('POST', '/v1/tasks/status', { taskIds: ids })).body.tasks;
      expect(statuses.filter((t: { status: string }) => t.status === 'success')).toHaveLength(40);
      const first = (await admin('GET', `/v1/tasks/${frames[0]![0]!.taskId}`)).body;
      expect(first.result).toBe(frames[0]![0]!.taskId);
      peer.close();
    });

    it('never sends more tasks than credits, records the first result once, and acks duplicates', async () => {
      const ids = await submit(10);
      const peer = await ProtocolPeer.connect(server.url, epToken);
      peer.hello();
      await peer.next('welcome');
      peer.send('credits', { credits: 3 });
      const first = await peer.tasks(3);
      await new Promise((r) => setTimeout(r, 300));
      expect(peer.frames.filter((f) => f.type === 'tasks')).toHaveLength(0);
      expect(first.map((t) => t.taskId).every((id) => ids.includes(id))).toBe(true);

      const t = first[0]!;
      peer.send('results', { results: [{ taskId: t.taskId, attempt: 0, status: 'success', result: 'first', timings: {} }] });
      expect((await peer.next('ack')).payload.taskIds).toEqual([t.taskId]);
      peer.send('results', { results: [{ taskId: t.taskId, attempt: 0, status: 'success', result: 'second', timings: {} }] });
      expect((await peer.next('ack')).payload.taskIds).toEqual([t.taskId]);
      const info = (await admin('GET', `/v1/tasks/${t.taskId}`)).body;
      expect([info.status, info.result]).toEqual(['success', 'first']);
      expect(info.timeline.dispatchedAt).not.toBeNull();

      peer.send('credits', { credits: 100 });
      const rest7 = await peer.tasks(7);
      expect(new Set([...first, ...rest7].map((x) => x.taskId))).toEqual(new Set(ids));
      peer.close();
    });

    it('keeps the leases an agent reports after reconnecting and requeues the rest with attempt + 1', async () => {
      const ids = await submit(4);
      const a = await ProtocolPeer.connect(server.url, epToken);
      a.hello();
      await a.next('welcome');
      a.send('credits', { credits: 4 });
      const held = await a.tasks(4);
      a.kill();

      const b = await ProtocolPeer.connect(server.url, epToken);
      const keep = held.slice(0, 2).map((t) => t.taskId);
      b.hello(keep);
      const welcome = await b.next('welcome');
      expect(welcome.payload.forget).toEqual([]);
      b.send('credits', { credits: 10 });
      const again = await b.tasks(2);
      expect(again.map((t) => t.taskId).sort()).toEqual(ids.filter((id) => !keep.includes(id)).sort());
      expect(again.every((t) => t.attempt === 1)).toBe(true);
      b.send('results', {
        results: [...keep, ...again.map((t) => t.taskId)].map((taskId) => ({ taskId, attempt: 0, status: 'success' as const, result: 1, timings: {} })),
      });
      await b.next('ack');
      const st = (await admin('POST', '/v1/tasks/status', { taskIds: ids })).body;
      expect(st.tasks.map((t: { status: string }) => t.status)).toEqual(['success', 'success', 'success', 'success']);
      b.close();
    });

    it('requeues tasks whose agent went silent, and fails them with MAX_ATTEMPTS_EXCEEDED past the limit', async () => {
      const [id] = await submit(1);
      for (let attempt = 0; attempt < 2; attempt++) {
        const peer = await ProtocolPeer.connect(server.url, epToken);
        // a peer that answers nothing after hello: the server must drop it by heartbeat, not by luck
        peer.ws.pong = () => undefined;
        (peer.ws as unknown as { _receiver: { removeAllListeners(e: string): void } })._receiver.removeAllListeners('ping');
        peer.hello();
        await peer.next('welcome');
        peer.send('credits', { credits: 1 });
        const [t] = await peer.tasks(1);
        expect(t!.attempt).toBe(attempt);
        await peer.waitClosed(10_000);
        if (attempt === 0) {
          await eventually(async () => (await admin('GET', `/v1/tasks/${id}`)).body.status === 'waiting-for-endpoint');
        }
      }
      const final = await eventually(async () => {
        const b = (await admin('GET', `/v1/tasks/${id}`)).body;
        return b.status === 'failed' && b;
      });
      expect(final.error.code).toBe('MAX_ATTEMPTS_EXCEEDED');
    });
  });

  describe('client channel', () => {
    it("pushes results already final at subscribe time and later ones, and hides other users' tasks", async () => {
      const ids = await submit(3);
      const peer = await ProtocolPeer.connect(server.url, epToken);
      peer.hello();
      await peer.next('welcome');
      peer.send('credits', { credits: 3 });
      const tasks = await peer.tasks(3);
      peer.send('results', { results: [{ taskId: tasks[0]!.taskId, attempt: 0, status: 'success', result: 'early', timings: {} }] });
      await peer.next('ack');

      const ws = new WebSocket(server.url.replace('http', 'ws') + '/v1/ws/client', { headers: { authorization: `Bearer ${server.adminToken}` } });
      const frames: any[] = [];
      ws.on('message', (d) => frames.push(parseFrame(ServerToClientSchemas, d as Buffer)));
      await new Promise((r) => ws.once('open', r));
      const stranger = '00000000-0000-4000-8000-000000000000';
      ws.send(encodeFrame<ClientToServer, 'subscribe'>('subscribe', { taskIds: [...ids, stranger] }, 'req-1'));
      await eventually(async () => frames.some((f) => f.type === 'subscribed'));
      const sub = frames.find((f) => f.type === 'subscribed');
      expect([sub.id, sub.payload.notFound]).toEqual(['req-1', [stranger]]);

      peer.send('results', {
        results: tasks.slice(1).map((t) => ({
          taskId: t.taskId,
          attempt: 0,
          status: 'failed' as const,
          error: { code: 'TASK_ERROR' as const, name: 'Error', message: 'boom', stack: 'Error: boom\n at f' },
          timings: {},
        })),
      });
      const outcomes = await eventually(async () => {
        const all = frames.filter((f) => f.type === 'result').flatMap((f) => f.payload.results);
        return all.length >= 3 && all;
      });
      expect(outcomes).toHaveLength(3);
      const byId = new Map(outcomes.map((o: any) => [o.taskId, o]));
      expect((byId.get(tasks[0]!.taskId) as any).result).toBe('early');
      expect((byId.get(tasks[1]!.taskId) as any).error.stack).toContain('at f');
      ws.close();
      peer.close();
    });

    it('cancels a held task and tells its agent', async () => {
      const [id] = await submit(1);
      const peer = await ProtocolPeer.connect(server.url, epToken);
      peer.hello();
      await peer.next('welcome');
      peer.send('credits', { credits: 1 });
      await peer.tasks(1);
      const res = await admin('POST', `/v1/tasks/${id}/cancel`);
      expect(res.body).toEqual({ taskId: id, status: 'cancelled', cancelled: true });
      expect((await peer.next('cancel')).payload.taskIds).toEqual([id]);
      // a late result does not overwrite the cancellation
      peer.send('results', { results: [{ taskId: id!, attempt: 0, status: 'success', result: 1, timings: {} }] });
      await peer.next('ack');
      expect((await admin('GET', `/v1/tasks/${id}`)).body.status).toBe('cancelled');
      peer.close();
    });
  });

  if (backend === 'postgres+redis') {
    it('rebuilds lost Redis queues from PostgreSQL: nothing accepted is lost', async () => {
      const { Redis } = await import('ioredis');
      const ids = await submit(5);
      const redis = new Redis(process.env.FX_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
      // FLUSHALL, limited to this server's prefix so parallel suites are not disturbed
      const keys = await redis.keys(`${server.redisPrefix}*`);
      expect(keys.length).toBeGreaterThan(0);
      await redis.del(...keys);
      await redis.quit();
      const peer = await ProtocolPeer.connect(server.url, epToken);
      peer.hello();
      await peer.next('welcome');
      peer.send('credits', { credits: 100 });
      const got = await peer.tasks(5, 20_000);
      expect(got.map((t) => t.taskId).sort()).toEqual([...ids].sort());
      peer.close();
    });
  }
});
