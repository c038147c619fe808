import { jest } from '@jest/globals';
import { createTestDatabase, testRedisUrl, type TestDatabase } from '@fx/testing';
import { loadConfig } from '../../apps/server/src/config/env.js';
import { startServer, type RunningServer } from '../../apps/server/src/server.js';
import { startTestServer, rest, type TestServer } from '../../apps/server/src/testing/test-server.js';
import { ProtocolPeer } from '../../apps/server/src/testing/protocol-peer.js';
import { RawSocket, mkUser, type TestUser } from './channels.fixture.js';

/**
 * Issue 10, item 5: revoking or expiring a token closes every socket opened with it within a few
 * seconds, on all three channels, and on PostgreSQL + Redis on every replica (revoked on one, the
 * socket on another).
 */
jest.setTimeout(240_000);

/** "Within a few seconds". */
const WITHIN_MS = 5_000;

describe.each(['embedded', 'postgres+redis'] as const)('revocation reaches open sockets on %s', (backend) => {
  let server: TestServer;
  let db: TestDatabase | undefined;
  let replica2: RunningServer | undefined;
  let admin: ReturnType<typeof rest>;
  let dave: TestUser;

  beforeAll(async () => {
    db = backend === 'postgres+redis' ? await createTestDatabase() : undefined;
    server = await startTestServer(backend, { FX_LOG_LEVEL: 'error', FX_RATE_LIMIT_PER_SECOND: '0', ...(db ? { DATABASE_URL: db.url } : {}) });
    admin = rest(server.url, server.adminToken);
    dave = await mkUser(server, 'dave');
    if (db) {
      // a second replica: same database, broker prefix and signing key
      replica2 = await startServer(
        loadConfig({
          PORT: '0',
          FX_DATA_DIR: server.dataDir,
          FX_LOG_LEVEL: 'error',
          FX_REDIS_PREFIX: server.redisPrefix,
          DATABASE_URL: db.url,
          REDIS_URL: testRedisUrl(),
          DATABASE_POOL_SIZE: '4',
        }),
      );
    }
  });

  afterAll(async () => {
    await replica2?.close();
    await server?.stop();
    await db?.drop();
  });

  async function spareToken(userId: string, expiresInSeconds?: number): Promise<{ token: string; id: string }> {
    const t = await admin('POST', `/v1/users/${userId}/tokens`, { name: 'spare', ...(expiresInSeconds ? { expiresInSeconds } : {}) });
    return { token: t.body.token, id: t.body.info.id };
  }

  async function revoke(id: string): Promise<void> {
    expect((await admin('DELETE', `/v1/tokens/${id}`)).status).toBe(204);
  }

  it('a revoked user token closes its client socket', async () => {
    const t = await spareToken(dave.id);
    const s = RawSocket.open(server.url, '/v1/ws/client', t.token);
    await s.ready();
    const other = RawSocket.open(server.url, '/v1/ws/client', dave.token);
    await other.ready();
    await revoke(t.id);
    const closed = await s.waitClosed(WITHIN_MS);
    expect(closed.code).toBe(4401);
    expect(s.frames.find((f) => f.type === 'error')?.payload.message).toMatch(/revoked/);
    // the user's other token is untouched
    expect(other.closed).toBeNull();
    other.close();
  });

  it('a revoked user token closes its console socket', async () => {
    const t = await spareToken(dave.id);
    const s = RawSocket.open(server.url, '/v1/ws/console');
    await s.ready();
    s.send('auth', { token: t.token });
    await s.next('ready');
    await revoke(t.id);
    expect((await s.waitClosed(WITHIN_MS)).code).toBe(4401);
  });

  it('a revoked endpoint token closes its agent socket, which then gets no task', async () => {
    const ep = await dave.api('POST', '/v1/endpoints', { name: `ep-${Date.now()}` });
    const fn = await dave.api('POST', '/v1/functions', { name: 'f', runtime: 'js', source: '(x) => x' });
    const peer = await ProtocolPeer.connect(server.url, ep.body.token);
    peer.hello();
    await peer.next('welcome');
    peer.send('credits', { credits: 10 });
    const tokens = (await admin('GET', `/v1/users/${dave.id}/tokens`)).body.items as Array<{ id: string; endpointId: string | null }>;
    const epToken = tokens.find((x) => x.endpointId === ep.body.endpoint.id)!;
    await revoke(epToken.id);
    const closed = await peer.waitClosed(WITHIN_MS);
    expect(closed.code).toBe(4401);
    await dave.api('POST', '/v1/tasks', { functionId: fn.body.id, endpointId: ep.body.endpoint.id, args: [1] });
    expect(peer.frames.filter((f) => f.type === 'tasks')).toEqual([]);
  });

  it('an expiring token closes its socket when it expires', async () => {
    const t = await spareToken(dave.id, 2);
    const s = RawSocket.open(server.url, '/v1/ws/client', t.token);
    await s.ready();
    const closed = await s.waitClosed(2_000 + WITHIN_MS);
    expect(closed.code).toBe(4401);
    expect(s.frames.find((f) => f.type === 'error')?.payload.message).toMatch(/expired/);
  });

  if (backend === 'postgres+redis') {
    it('revoked on replica 1, the socket on replica 2 closes', async () => {
      const t = await spareToken(dave.id);
      const s = RawSocket.open(replica2!.url, '/v1/ws/client', t.token);
      await s.ready();
      const c = RawSocket.open(replica2!.url, '/v1/ws/console');
      await c.ready();
      c.send('auth', { token: t.token });
      await c.next('ready');
      await revoke(t.id);
      expect((await s.waitClosed(WITHIN_MS)).code).toBe(4401);
      expect((await c.waitClosed(WITHIN_MS)).code).toBe(4401);
    });
  }
});
