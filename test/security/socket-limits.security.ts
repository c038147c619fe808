import { jest } from '@jest/globals';
import { connect } from 'node:net';
import { ConfigError, loadConfig } from '../../apps/server/src/config/env.js';
import { startTestServer, type TestServer } from '../../apps/server/src/testing/test-server.js';
import { ProtocolPeer } from '../../apps/server/src/testing/protocol-peer.js';
import { eventually, sleep } from '@fx/testing';
import { FRAME_POLL, RawSocket, mkUser, type TestUser } from './channels.fixture.js';

/**
 * Issue 10, items 10 and 2 (websocket part): sockets are capped per user (all channels, all of the
 * user's tokens) and per address, with a close code and a sentence; a peer that never finishes its
 * request headers is dropped; frames are limited in size per channel and in rate per socket; and
 * FX_MAX_FRAME_BYTES beyond what the channel can take is refused at boot.
 */
jest.setTimeout(180_000);

const PER_USER = 4;
const PER_ADDRESS = 12;

describe.each(['embedded', 'postgres+redis'] as const)('socket limits on %s', (backend) => {
  let server: TestServer;
  let erin: TestUser;
  let frank: TestUser;
  const open: RawSocket[] = [];

  beforeAll(async () => {
    server = await startTestServer(backend, {
      FX_LOG_LEVEL: 'error',
      FX_RATE_LIMIT_PER_SECOND: '0',
      FX_MAX_SOCKETS_PER_USER: String(PER_USER),
      FX_MAX_SOCKETS_PER_ADDRESS: String(PER_ADDRESS),
      FX_WS_FRAMES_PER_SECOND: '50',
      FX_WS_FRAME_BURST: '100',
      FX_HEADERS_TIMEOUT_MS: '1000',
    });
    erin = await mkUser(server, 'erin');
    frank = await mkUser(server, 'frank');
  });

  afterEach(async () => {
    for (const s of open.splice(0)) s.close();
    // let the server see them go before the next case counts
    await sleep(300);
  });

  afterAll(async () => {
    await server?.stop();
  });

  const track = (s: RawSocket) => (open.push(s), s);

  it('caps the sockets of one user across channels and tokens, with a sentence', async () => {
    const second = (await erin.api('POST', '/v1/endpoints', { name: 'erin-ep' })).body;
    const peer = await ProtocolPeer.connect(server.url, second.token);
    peer.hello();
    await peer.next('welcome');
    const c1 = track(RawSocket.open(server.url, '/v1/ws/client', erin.token));
    const c2 = track(RawSocket.open(server.url, '/v1/ws/client', erin.token));
    const con = track(RawSocket.open(server.url, '/v1/ws/console'));
    await Promise.all([c1.ready(), c2.ready(), con.ready()]);
    con.send('auth', { token: erin.token });
    await con.next('ready');
    await sleep(200);
    // the fifth, on any channel, is refused
    const over = track(RawSocket.open(server.url, '/v1/ws/client', erin.token));
    const closed = await over.waitClosed();
    expect(closed.code).toBe(4429);
    expect(over.frames.find((f) => f.type === 'error')?.payload).toMatchObject({ code: 'RATE_LIMITED', message: expect.stringMatching(/limit is 4/) });
    // another user is not affected
    const fine = track(RawSocket.open(server.url, '/v1/ws/client', frank.token));
    await fine.ready();
    await sleep(300);
    expect(fine.closed).toBeNull();
    // closing one makes room
    peer.close();
    await peer.waitClosed();
    await sleep(300);
    const again = track(RawSocket.open(server.url, '/v1/ws/client', erin.token));
    await again.ready();
    await sleep(300);
    expect(again.closed).toBeNull();
  });

  it('caps the sockets of one address, authenticated or not', async () => {
    const idle = Array.from({ length: PER_ADDRESS }, () => track(RawSocket.open(server.url, '/v1/ws/console')));
    await Promise.all(idle.map((s) => s.ready()));
    await sleep(200);
    const over = track(RawSocket.open(server.url, '/v1/ws/console'));
    expect((await over.waitClosed()).code).toBe(4429);
    expect(over.closed!.reason).toMatch(/too many open websockets/);
    expect(idle.filter((s) => s.closed)).toEqual([]);
  });

  it('drops a peer that never finishes its request headers', async () => {
    const sock = connect(Number(new URL(server.url).port), '127.0.0.1');
    let closedAt = 0;
    sock.on('close', () => (closedAt = Date.now()));
    sock.on('error', () => undefined);
    let answer = '';
    sock.on('data', (d) => (answer += d.toString()));
    await new Promise((r) => sock.once('connect', r));
    const start = Date.now();
    sock.write('GET /v1/ws/client HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
    await eventually(() => closedAt > 0, 8_000, 'the half-open request dropped', FRAME_POLL);
    expect(closedAt - start).toBeGreaterThanOrEqual(900);
    expect(answer).toMatch(/^HTTP\/1.1 408/);
  });

  it('refuses client frames over 1 MiB', async () => {
    const s = track(RawSocket.open(server.url, '/v1/ws/client', frank.token));
    await s.ready();
    s.send('subscribe', { taskIds: ['x'.repeat(2 * 1024 * 1024)] });
    expect((await s.waitClosed()).code).toBe(1009);
  });

  it('closes a socket that floods frames, with a sentence', async () => {
    const s = track(RawSocket.open(server.url, '/v1/ws/client', frank.token));
    await s.ready();
    for (let i = 0; i < 1_000; i++) s.send('unsubscribe', { taskIds: [] });
    const closed = await s.waitClosed();
    expect(closed.code).toBe(4429);
    expect(closed.reason).toMatch(/too many frames/);
  });

  it('refuses FX_MAX_FRAME_BYTES above 64 MiB at boot, with a sentence', () => {
    expect(() => loadConfig({ FX_MAX_FRAME_BYTES: String(128 * 1024 * 1024) })).toThrow(ConfigError);
    expect(() => loadConfig({ FX_MAX_FRAME_BYTES: String(128 * 1024 * 1024) })).toThrow(/FX_MAX_FRAME_BYTES: must be at most 67108864/);
  });
});
