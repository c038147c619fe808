import { jest } from '@jest/globals';
import WebSocket from 'ws';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually as eventuallyWithin, tempDir } from '@fx/testing';
import { CONSOLE_CLOSE, encodeFrame, parseFrame, ServerToConsoleSchemas, type ConsoleToServer, type Frame, type TaskChange } from '@fx/protocol';
import { BACKENDS, rest, startTestServer, type TestServer } from '../../testing/test-server.js';
import { ProtocolPeer } from '../../testing/protocol-peer.js';
import { decodeCursor, encodeCursor } from '../tasks/task-list.service.js';

jest.setTimeout(60_000);

type ConsoleFrame = Frame<typeof ServerToConsoleSchemas>;

/** A console-channel socket as a browser would open it: no headers, token in the first frame. */
class ConsoleSocket {
  readonly frames: ConsoleFrame[] = [];
  closed: { code: number; reason: string } | null = null;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => this.frames.push(parseFrame(ServerToConsoleSchemas, d as Buffer)));
    ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
  }
  static async open(baseUrl: string): Promise<ConsoleSocket> {
    const ws = new WebSocket(baseUrl.replace(/^http/, 'ws') + '/v1/ws/console');
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new ConsoleSocket(ws);
  }
  auth(token: string) {
    this.ws.send(encodeFrame<ConsoleToServer, 'auth'>('auth', { token }));
  }
  /** Every task change received so far, latest state per id. */
  taskStates(): Map<string, TaskChange> {
    const m = new Map<string, TaskChange>();
    for (const f of this.frames) if (f.type === 'events') for (const t of f.payload.tasks) m.set(t.id, t);
    return m;
  }
  close() {
    this.ws.close();
  }
}

// sockets and frames settle within milliseconds here: poll often
const eventually = <T>(fn: () => T | Promise<T>) => eventuallyWithin(fn, 15_000, 'condition', { intervalMs: 50 });

describe('console cursor', () => {
  it('round-trips and refuses a cursor it did not issue', () => {
    const row = { received_at: new Date('2026-11-23T10:00:00.123Z'), id: '6f1c2a34-1c7e-4d8a-9a7b-0d8f1e2c3b4a' };
    expect(decodeCursor(encodeCursor(row))).toEqual({ receivedAt: row.received_at, id: row.id });
    expect(() => decodeCursor('bm90LWpzb24')).toThrow(/cursor is not one this server issued/);
  });
});

describe.each(BACKENDS)('console API on %s', (backend) => {
  let server: TestServer;
  let admin: ReturnType<typeof rest>;
  let fnId: string;

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_HEARTBEAT_INTERVAL_MS: '200', FX_HEARTBEAT_TIMEOUT_MS: '1500', FX_CONSOLE_DIR: '/nonexistent/fx-console' });
    admin = rest(server.url, server.adminToken);
    fnId = (await admin('POST', '/v1/functions', { name: 'add', runtime: 'js', source: '(a, b) => a + b' })).body.id;
  });
  afterAll(() => server?.stop());

  const newEndpoint = async (as = admin) => {
    const res = await as('POST', '/v1/endpoints', { name: `ep-${Math.random().toString(36).slice(2, 8)}` });
    expect(res.status).toBe(201);
    return { id: res.body.endpoint.id as string, token: res.body.token as string };
  };
  const newUser = async () => {
    const user = (await admin('POST', '/v1/users', { name: `u${Math.random().toString(36).slice(2, 10)}` })).body;
    const { token, info } = (await admin('POST', `/v1/users/${user.id}/tokens`, { name: 'console' })).body;
    return { user, token: token as string, tokenId: info.id as string, api: rest(server.url, token) };
  };
  const submit = async (endpointId: string, n: number, as = admin, functionId = fnId) => {
    const res = await as('POST', '/v1/tasks/batch', { endpointId, tasks: Array.from({ length: n }, (_, i) => ({ functionId, args: [i, 1] })) });
    expect(res.status).toBe(201);
    return res.body.taskIds as string[];
  };

  describe('GET /v1/tasks', () => {
    it('pages newest first with a cursor, without gaps or repeats', async () => {
      const ep = await newEndpoint();
      const ids = [...(await submit(ep.id, 7)), ...(await submit(ep.id, 6))];
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: { status: number; body: { items: Array<{ id: string; receivedAt: string }>; nextCursor: string | null } } = await admin(
          'GET',
          `/v1/tasks?endpointId=${ep.id}&limit=5${cursor ? `&cursor=${cursor}` : ''}`,
        );
        expect(res.status).toBe(200);
        seen.push(...res.body.items.map((t) => t.id));
        const times = res.body.items.map((t) => Date.parse(t.receivedAt));
        expect(times).toEqual([...times].sort((a, b) => b - a));
        cursor = res.body.nextCursor;
        pages++;
      } while (cursor);
      expect(pages).toBe(3);
      expect(new Set(seen).size).toBe(13);
      expect(new Set(seen)).toEqual(new Set(ids));
      // the second batch was received after the first: it comes first
      expect(seen.slice(0, 6).sort()).toEqual(ids.slice(7).sort());
    });

    it('filters by status, function, endpoint, owner and time, and validates the query', async () => {
      const ep = await newEndpoint();
      const other = (await admin('POST', '/v1/functions', { name: 'other', runtime: 'js', source: '() => 2' })).body.id;
      const a = await submit(ep.id, 3);
      const b = await submit(ep.id, 2, admin, other);
      await admin('POST', `/v1/tasks/${a[0]}/cancel`);

      const byFn = (await admin('GET', `/v1/tasks?endpointId=${ep.id}&functionId=${other}`)).body.items.map((t: { id: string }) => t.id);
      expect(byFn.sort()).toEqual([...b].sort());
      const cancelled = (await admin('GET', `/v1/tasks?endpointId=${ep.id}&status=cancelled`)).body.items;
      expect(cancelled.map((t: { id: string }) => t.id)).toEqual([a[0]]);
      expect(cancelled[0].errorCode).toBe('TASK_CANCELLED');
      const several = (await admin('GET', `/v1/tasks?endpointId=${ep.id}&status=cancelled,waiting-for-endpoint`)).body.items;
      expect(several).toHaveLength(5);

      const future = new Date(Date.now() + 3_600_000).toISOString();
      expect((await admin('GET', `/v1/tasks?endpointId=${ep.id}&since=${encodeURIComponent(future)}`)).body.items).toEqual([]);
      expect((await admin('GET', `/v1/tasks?endpointId=${ep.id}&until=${encodeURIComponent(future)}`)).body.items).toHaveLength(5);

      // counts=true: per state over every matching task, not over the page
      const counted = (await admin('GET', `/v1/tasks?endpointId=${ep.id}&limit=1&counts=true`)).body;
      expect(counted.items).toHaveLength(1);
      expect(counted.counts).toEqual({ byStatus: { cancelled: 1, 'waiting-for-endpoint': 4 }, total: 5, capped: false });
      expect((await admin('GET', `/v1/tasks?endpointId=${ep.id}&status=cancelled&counts=true`)).body.counts).toEqual({
        byStatus: { cancelled: 1 },
        total: 1,
        capped: false,
      });
      expect((await admin('GET', `/v1/tasks?endpointId=${ep.id}`)).body.counts).toBeUndefined();

      for (const bad of ['status=nope', 'counts=yes', 'limit=0', 'limit=5000', 'endpointId=-12', 'since=yesterday', 'cursor=garbage', 'color=red']) {
        const res = await admin('GET', `/v1/tasks?${bad}`);
        expect([bad, res.status, res.body.code]).toEqual([bad, 400, 'VALIDATION_FAILED']);
      }
    });

    it("shows users only their own tasks; admins everyone's, by owner if asked", async () => {
      const u = await newUser();
      const mine = await newEndpoint(u.api);
      const fn = (await u.api('POST', '/v1/functions', { name: 'f', runtime: 'js', source: '() => 1' })).body.id;
      const ids = await submit(mine.id, 2, u.api, fn);
      await submit((await newEndpoint()).id, 2);

      const own = (await u.api('GET', '/v1/tasks?limit=1000')).body.items.map((t: { id: string }) => t.id);
      expect(own.sort()).toEqual([...ids].sort());
      expect((await u.api('GET', `/v1/tasks?ownerId=${server.adminToken ? (await admin('GET', '/v1/whoami')).body.user.id : ''}`)).body.items).toEqual([]);
      const asAdmin = (await admin('GET', `/v1/tasks?ownerId=${u.user.id}`)).body.items.map((t: { id: string }) => t.id);
      expect(asAdmin.sort()).toEqual([...ids].sort());
    });
  });

  describe('endpoint lock', () => {
    it('refuses new tasks with 409 ENDPOINT_LOCKED while locked, and only the owner or an admin may lock', async () => {
      const u = await newUser();
      const ep = await newEndpoint(u.api);
      const fn = (await u.api('POST', '/v1/functions', { name: 'g', runtime: 'js', source: '() => 1' })).body.id;
      const stranger = await newUser();
      expect((await stranger.api('POST', `/v1/endpoints/${ep.id}/lock`)).status).toBe(404);

      const locked = await u.api('POST', `/v1/endpoints/${ep.id}/lock`);
      expect(locked.status).toBe(200);
      expect(locked.body.lockedAt).toEqual(expect.any(String));
      const refused = await u.api('POST', '/v1/tasks', { functionId: fn, endpointId: ep.id });
      expect([refused.status, refused.body.code]).toEqual([409, 'ENDPOINT_LOCKED']);
      expect(refused.body.message).toMatch(/locked/);
      expect((await u.api('POST', '/v1/tasks/batch', { endpointId: ep.id, tasks: [{ functionId: fn }] })).status).toBe(409);

      const unlocked = await admin('POST', `/v1/endpoints/${ep.id}/unlock`);
      expect([unlocked.status, unlocked.body.lockedAt]).toEqual([200, null]);
      expect((await u.api('POST', '/v1/tasks', { functionId: fn, endpointId: ep.id })).status).toBe(201);
    });
  });

  describe('PATCH /v1/functions/:id', () => {
    it('toggles public for the owner and admins; others get 404 and a bad body 400', async () => {
      const u = await newUser();
      const other = await newUser();
      const fn = (await u.api('POST', '/v1/functions', { name: 'shared', runtime: 'js', source: '() => 1' })).body.id;
      expect((await other.api('GET', `/v1/functions/${fn}`)).status).toBe(404);
      expect((await other.api('PATCH', `/v1/functions/${fn}`, { public: true })).status).toBe(404);

      const res = await u.api('PATCH', `/v1/functions/${fn}`, { public: true });
      expect([res.status, res.body.public]).toEqual([200, true]);
      expect((await other.api('GET', `/v1/functions/${fn}`)).status).toBe(200);
      expect((await admin('PATCH', `/v1/functions/${fn}`, { public: false })).body.public).toBe(false);
      expect((await other.api('GET', `/v1/functions/${fn}`)).status).toBe(404);

      const bad = await u.api('PATCH', `/v1/functions/${fn}`, { public: 'yes' });
      expect([bad.status, bad.body.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect((await u.api('PATCH', `/v1/functions/${fn}`, { public: true, name: 'x' })).status).toBe(400);
    });
  });

  describe('overview and endpoints', () => {
    it('counts endpoints, queue depth and completed/failed tasks per minute', async () => {
      const u = await newUser();
      const ep = await newEndpoint(u.api);
      const fn = (await u.api('POST', '/v1/functions', { name: 'h', runtime: 'js', source: '() => 1' })).body.id;
      const ids = await submit(ep.id, 4, u.api, fn);
      const peer = await ProtocolPeer.connect(server.url, ep.token);
      peer.hello();
      await peer.next('welcome');
      peer.send('heartbeat', { state: 'RUNNING', workers: { total: 2, busy: 0, idle: 2 }, queued: 0, running: 0, spooled: 0, provider: 'local' });
      peer.send('credits', { credits: 3 });
      const tasks = await peer.tasks(3);
      peer.send('results', {
        results: [
          { taskId: tasks[0]!.taskId, attempt: 0, status: 'success', result: 1, timings: {} },
          { taskId: tasks[1]!.taskId, attempt: 0, status: 'failed', error: { code: 'TASK_ERROR', name: 'Error', message: 'boom' }, timings: {} },
        ],
      });
      await peer.next('ack');

      const o = (await u.api('GET', '/v1/console/overview')).body;
      expect(o.endpoints).toEqual({ online: 1, offline: 0, locked: 0 });
      expect(o.queue).toEqual({ waiting: 1, dispatched: 1, running: 0 });
      expect(o.throughput).toHaveLength(60);
      expect(o.throughput.reduce((n: number, b: { completed: number }) => n + b.completed, 0)).toBe(1);
      expect(o.throughput.reduce((n: number, b: { failed: number }) => n + b.failed, 0)).toBe(1);
      expect(Date.parse(o.throughput[59].minute)).toBeGreaterThan(Date.parse(o.throughput[0].minute));

      const eps = (await u.api('GET', '/v1/console/endpoints')).body.items;
      expect(eps).toHaveLength(1);
      expect(eps[0]).toMatchObject({ id: ep.id, state: 'online', lockedAt: null, ownerName: u.user.name, tasks: { waiting: 1, dispatched: 1, running: 0 } });
      expect(eps[0].status.workers).toEqual({ total: 2, busy: 0, idle: 2 });
      // admins see every endpoint, users only theirs
      expect((await admin('GET', '/v1/console/endpoints')).body.items.length).toBeGreaterThan(1);
      expect(ids).toHaveLength(4);
      peer.close();
    });

    it('documents the new routes in OpenAPI', async () => {
      const doc = (await rest(server.url)('GET', '/openapi.json')).body;
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/console/overview', '/v1/endpoints/{id}/lock', '/v1/endpoints/{id}/unlock']));
      expect(doc.paths['/v1/tasks'].get.parameters.map((p: { name: string }) => p.name)).toEqual(
        expect.arrayContaining(['status', 'endpointId', 'functionId', 'ownerId', 'since', 'until', 'limit', 'cursor']),
      );
      expect(doc.paths['/v1/functions/{id}'].patch.requestBody).toBeDefined();
    });
  });

  describe('console channel', () => {
    it('authenticates with the first frame and refuses bad, endpoint and missing tokens', async () => {
      const good = await ConsoleSocket.open(server.url);
      good.auth(server.adminToken);
      const ready = await eventually(() => good.frames.find((f) => f.type === 'ready'));
      expect(ready.type === 'ready' && ready.payload.user.admin).toBe(true);
      good.close();

      const bad = await ConsoleSocket.open(server.url);
      bad.auth('not.a.token');
      await eventually(() => bad.closed);
      expect(bad.closed!.code).toBe(CONSOLE_CLOSE.unauthorized);
      expect(bad.frames[0]).toMatchObject({ type: 'error', payload: { code: 'UNAUTHENTICATED' } });

      const ep = await newEndpoint();
      const asEndpoint = await ConsoleSocket.open(server.url);
      asEndpoint.auth(ep.token);
      await eventually(() => asEndpoint.closed);
      expect(asEndpoint.frames[0]).toMatchObject({ type: 'error', payload: { code: 'FORBIDDEN' } });

      const garbage = await ConsoleSocket.open(server.url);
      garbage.ws.send('{"v":1,"type":"subscribe","payload":{}}');
      await eventually(() => garbage.closed);
      expect(garbage.closed!.code).toBe(CONSOLE_CLOSE.badFrame);
    });

    it('pushes coalesced task states and endpoint changes, each user seeing only their own', async () => {
      const u = await newUser();
      const other = await newUser();
      const ep = await newEndpoint(u.api);
      const fn = (await u.api('POST', '/v1/functions', { name: 'live', runtime: 'js', source: '() => 1' })).body.id;

      const watcher = await ConsoleSocket.open(server.url);
      watcher.auth(u.token);
      const outsider = await ConsoleSocket.open(server.url);
      outsider.auth(other.token);
      const adminSocket = await ConsoleSocket.open(server.url);
      adminSocket.auth(server.adminToken);
      await eventually(() => [watcher, outsider, adminSocket].every((s) => s.frames.some((f) => f.type === 'ready')));

      const ids = await submit(ep.id, 30, u.api, fn);
      const peer = await ProtocolPeer.connect(server.url, ep.token);
      peer.hello();
      await peer.next('welcome');
      await eventually(() => watcher.frames.some((f) => f.type === 'events' && f.payload.endpoints.some((e) => e.id === ep.id && e.state === 'online')));

      peer.send('credits', { credits: 30 });
      const tasks = await peer.tasks(30);
      peer.send('started', { tasks: tasks.map((t) => ({ taskId: t.taskId, startedAt: Date.now() })) });
      await eventually(() => ids.every((id) => watcher.taskStates().get(id)?.status === 'running'));
      peer.send('results', {
        results: tasks.map((t, i) =>
          i === 0
            ? { taskId: t.taskId, attempt: 0, status: 'failed' as const, error: { code: 'TASK_ERROR' as const, name: 'Error', message: 'boom' }, timings: {} }
            : { taskId: t.taskId, attempt: 0, status: 'success' as const, result: i, timings: {} },
        ),
      });
      await peer.next('ack');
      const final = await eventually(() => {
        const states = watcher.taskStates();
        return ids.every((id) => states.get(id)?.completedAt) && states;
      });
      expect(final.get(tasks[0]!.taskId)).toMatchObject({ status: 'failed', errorCode: 'TASK_ERROR', ownerId: u.user.id });
      expect(ids.filter((id) => final.get(id)?.status === 'success')).toHaveLength(29);
      await eventually(() => ids.every((id) => adminSocket.taskStates().get(id)?.completedAt));

      // coalesced: 30 tasks through 4 states in far fewer frames than tasks
      const frames = watcher.frames.filter((f) => f.type === 'events');
      expect(frames.length).toBeLessThan(30);

      peer.close();
      await eventually(() => watcher.frames.some((f) => f.type === 'events' && f.payload.endpoints.some((e) => e.id === ep.id && e.state === 'offline')));
      await u.api('DELETE', `/v1/endpoints/${ep.id}`);
      await eventually(() => watcher.frames.some((f) => f.type === 'events' && f.payload.removedEndpoints.includes(ep.id)));

      // the other user saw none of it
      expect(outsider.taskStates().size).toBe(0);
      expect(outsider.frames.some((f) => f.type === 'events' && (f.payload.endpoints.length || f.payload.removedEndpoints.length))).toBe(false);
      for (const s of [watcher, outsider, adminSocket]) s.close();
    });
  });

  describe('/console', () => {
    it('redirects / to /console', async () => {
      const res = await fetch(server.url + '/', { redirect: 'manual' });
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe('/console/');
      expect((await fetch(server.url + '/nope')).status).toBe(404);
    });

    it('answers 404 with a sentence when the console is not built', async () => {
      const res = await rest(server.url)('GET', '/console');
      expect(res.status).toBe(404);
      expect(res.body.message).toMatch(/console is not built.*npm run build/);
    });

    it('serves the built files with an index.html fallback for client-side routes', async () => {
      const dir = await tempDir('fx-console');
      await mkdir(join(dir.path, 'assets'));
      await writeFile(join(dir.path, 'index.html'), '<!doctype html><title>FX console</title>');
      await writeFile(join(dir.path, 'assets', 'app-1234.js'), 'console.log(1)');
      const s = await startTestServer('embedded', { FX_CONSOLE_DIR: dir.path });
      try {
        for (const path of ['/console', '/console/', '/console/tasks/6f1c2a34-1c7e-4d8a-9a7b-0d8f1e2c3b4a']) {
          const res = await fetch(s.url + path);
          expect([path, res.status]).toEqual([path, 200]);
          expect(await res.text()).toContain('FX console');
          expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
        }
        const asset = await fetch(s.url + '/console/assets/app-1234.js');
        expect(asset.status).toBe(200);
        expect(asset.headers.get('cache-control')).toMatch(/immutable/);
        expect((await fetch(s.url + '/console/assets/missing.js')).status).toBe(404);
        // the API is unaffected
        expect((await fetch(s.url + '/v1/whoami')).status).toBe(401);
      } finally {
        await s.stop();
        await dir.remove();
      }
    });
  });
});
