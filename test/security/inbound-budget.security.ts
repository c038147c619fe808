import { jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { startTestServer, type TestServer } from '../../apps/server/src/testing/test-server.js';
import { ProtocolPeer } from '../../apps/server/src/testing/protocol-peer.js';
import { eventually, sleep } from '@fx/testing';
import { FRAME_POLL, RawSocket, mkUser, type TestUser } from './channels.fixture.js';

/**
 * A peer that sends frames faster than the server handles them is not read any further while the
 * frames the server holds of it are over their budget (FX_MAX_FRAME_BYTES for an agent, 16 of the
 * largest client frames for an SDK): TCP pushes back on it instead of the server holding everything it
 * sent. Every frame is still handled, in order, once the socket is read again.
 */
jest.setTimeout(180_000);

const FRAME = 1024 * 1024;
const FRAMES = 60;

/** fx_socket_reads_paused_total of a channel, from /metrics. */
async function pauses(server: TestServer, channel: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`fx_socket_reads_paused_total{channel="${channel}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe.each(['embedded', 'postgres+redis'] as const)('the bytes a socket may have the server hold, on %s', (backend) => {
  let server: TestServer;
  let user: TestUser;

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_LOG_LEVEL: 'error', FX_RATE_LIMIT_PER_SECOND: '0', FX_MAX_FRAME_BYTES: String(2 * FRAME) });
    user = await mkUser(server, 'flood');
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('stops reading an agent that sends results faster than they are recorded, and acknowledges every frame once it reads on', async () => {
    const ep = (await user.api('POST', '/v1/endpoints', { name: 'flood-ep' })).body;
    const peer = await ProtocolPeer.connect(server.url, ep.token);
    peer.hello();
    await peer.next('welcome');
    const before = await pauses(server, 'endpoint');
    // results for tasks nobody has: parsed, recorded as nothing, acknowledged; each frame 1 MiB
    const ids = Array.from({ length: FRAMES }, () => randomUUID());
    for (const taskId of ids) {
      peer.send('results', { results: [{ taskId, attempt: 0, status: 'success', result: 'x'.repeat(FRAME - 200), timings: {} }] });
    }
    const acked: string[] = [];
    while (acked.length < FRAMES) acked.push(...(await peer.next('ack', 60_000)).payload.taskIds);
    expect(acked).toEqual(ids);
    expect(await pauses(server, 'endpoint')).toBeGreaterThan(before);
    peer.close();
  });

  it('stops reading an SDK socket with more submissions in flight than its budget, and answers each', async () => {
    const fn = (await user.api('POST', '/v1/functions', { name: 'f', runtime: 'js', source: '(x) => x.length' })).body.id;
    const ep = (await user.api('POST', '/v1/endpoints', { name: 'sdk-ep' })).body.endpoint.id;
    const socket = RawSocket.open(server.url, '/v1/ws/client', user.token);
    await socket.ready();
    const before = await pauses(server, 'client');
    // 40 submissions of about 900 KB each: more than 16 of the largest frames at once
    const n = 40;
    for (let i = 0; i < n; i++) socket.send('submit', { batch: { endpointId: ep, tasks: [{ functionId: fn, args: ['y'.repeat(900_000)] }] } }, `s${i}`);
    await eventually(() => socket.frames.filter((f) => f.type === 'submitted').length === n, 120_000, 'every submission answered', FRAME_POLL);
    expect(socket.frames.filter((f) => f.type === 'error')).toEqual([]);
    expect(await pauses(server, 'client')).toBeGreaterThan(before);
    socket.close();
  });
});

// PostgreSQL only: the test stores some 50 MB of results, and what it checks is the client channel's
describe('the bytes an SDK socket may have waiting to go out, on postgres+redis', () => {
  let server: TestServer;
  let user: TestUser;

  beforeAll(async () => {
    server = await startTestServer('postgres+redis', { FX_LOG_LEVEL: 'error', FX_RATE_LIMIT_PER_SECOND: '0' });
    user = await mkUser(server, 'reader');
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('handles no further frame of a socket that asked for results and reads none, and sends them all once it reads', async () => {
    const fn = (await user.api('POST', '/v1/functions', { name: 'big', runtime: 'js', source: '() => 1' })).body.id;
    const endpoint = async (name: string) => {
      const ep = (await user.api('POST', '/v1/endpoints', { name })).body;
      const peer = await ProtocolPeer.connect(server.url, ep.token);
      peer.hello();
      await peer.next('welcome');
      return { id: ep.endpoint.id as string, peer };
    };
    const big = await endpoint('big-ep');
    const other = await endpoint('other-ep');
    // 50 finished tasks of 1 MB each: more than the kernel's socket buffers and the server's 32 MiB
    const n = 50;
    const batch = await user.api('POST', '/v1/tasks/batch', { endpointId: big.id, tasks: Array.from({ length: n }, () => ({ functionId: fn })) });
    expect(batch.status).toBe(201);
    const ids: string[] = batch.body.taskIds;
    big.peer.send('credits', { credits: n });
    await big.peer.tasks(n);
    for (const taskId of ids) {
      big.peer.send('results', { results: [{ taskId, attempt: 0, status: 'success', result: 'r'.repeat(1_000_000), timings: {} }] });
      await big.peer.next('ack');
    }

    const socket = RawSocket.open(server.url, '/v1/ws/client', user.token);
    await socket.ready();
    socket.ws.pause(); // reads nothing from here on
    socket.send('subscribe', { taskIds: ids }, 'replay');
    socket.send('submit', { task: { functionId: fn, endpointId: other.id, args: [] } }, 'after');
    other.peer.send('credits', { credits: 1 });
    // the submission waits behind the replay nobody reads: the other endpoint is sent nothing
    await sleep(2_000);
    expect(other.peer.frames.filter((f) => f.type === 'tasks')).toEqual([]);

    socket.ws.resume();
    const results = () => socket.frames.filter((f) => f.type === 'result').flatMap((f) => f.payload.results as Array<{ taskId: string; result: string }>);
    await eventually(() => results().length === n, 60_000, 'every result replayed', FRAME_POLL);
    expect(new Set(results().map((r) => r.taskId))).toEqual(new Set(ids));
    expect(results().every((r) => r.result.length === 1_000_000)).toBe(true);
    await socket.next('submitted', 30_000);
    expect((await other.peer.tasks(1, 30_000)).length).toBe(1);
    socket.close();
    big.peer.close();
    other.peer.close();
  });
  it('closes an SDK socket that watches live progress and reads none of it once 8 MiB wait unread; watching again catches up', async () => {
    const fn = (await user.api('POST', '/v1/functions', { name: 'live-f', runtime: 'js', source: '(x) => x' })).body.id;
    const ep = (await user.api('POST', '/v1/endpoints', { name: 'live-ep' })).body;
    const peer = await ProtocolPeer.connect(server.url, ep.token);
    peer.hello();
    await peer.next('welcome');
    const task = (await user.api('POST', '/v1/tasks', { functionId: fn, endpointId: ep.endpoint.id, args: [] })).body.taskId as string;
    peer.send('credits', { credits: 1 });
    await peer.tasks(1);
    const socket = RawSocket.open(server.url, '/v1/ws/client', user.token);
    await socket.ready();
    socket.send('watch', { taskIds: [task], progress: true }, 'w');
    await socket.next('watching');
    socket.ws.pause(); // reads nothing from here on
    // 60 MB of progress, 100 items of 15 KB a frame: far past the kernel's buffers and the bound
    let seq = 0;
    for (let f = 0; f < 40; f++)
      peer.send('stream', {
        progress: Array.from({ length: 100 }, () => ({ taskId: task, attempt: 0, seq: ++seq, at: Date.now(), value: 'p'.repeat(15_000) })),
        logs: [],
        truncated: [],
      });
    const emitted = async () => ((await user.api('GET', `/v1/tasks/${task}/progress`)).body.emitted as number) >= seq;
    await eventually(emitted, 60_000, 'every stream frame stored', FRAME_POLL);
    socket.ws.resume();
    expect((await socket.waitClosed(60_000)).code).toBe(4429);
    const got = socket.frames.filter((f) => f.type === 'progress').flatMap((f) => f.payload.items).length;
    expect(got).toBeLessThan(seq);
    // its SDK comes back and watches again: the kept progress is caught up
    const again = RawSocket.open(server.url, '/v1/ws/client', user.token);
    await again.ready();
    again.send('watch', { taskIds: [task], progress: true }, 'w2');
    await again.next('watching');
    const caught = await again.next('progress', 30_000);
    expect(caught.payload.items.at(-1).seq).toBe(seq);
    again.close();
    peer.close();
  });
});
