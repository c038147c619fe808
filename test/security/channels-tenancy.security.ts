import { jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Client } from '@fx/sdk';
import { startTestServer, type TestServer } from '../../apps/server/src/testing/test-server.js';
import { ProtocolPeer } from '../../apps/server/src/testing/protocol-peer.js';
import { eventually, sleep } from '@fx/testing';
import { FRAME_POLL, RawSocket, mkUser, type TestUser } from './channels.fixture.js';

/**
 * Issue 10, item 1: results never cross tenants on the websocket channels.
 *  - bob subscribing to alice's task ids, even while their results are being recorded, never gets them;
 *  - bob's endpoint naming alice's task ids in `results` records nothing, re-publishes nothing, and in
 *    `started` shows nothing as running (not even in bob's own console);
 *  - result frames are packed by bytes: getResults on 8 results of ~9.5 MB returns.
 */
jest.setTimeout(300_000);

const ok = (t: string) => ({ taskId: t, attempt: 0, status: 'success' as const, result: { owner: 'alice' }, timings: {} });

describe.each(['embedded', 'postgres+redis'] as const)('channel tenancy on %s', (backend) => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let aliceFn: string;
  let aliceEp: { id: string; token: string };
  let bobEp: { id: string; token: string };
  let alicePeer: ProtocolPeer;
  let bobPeer: ProtocolPeer;

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_LOG_LEVEL: 'error', FX_RATE_LIMIT_PER_SECOND: '0' });
    alice = await mkUser(server, 'alice');
    bob = await mkUser(server, 'bob');
    aliceFn = (await alice.api('POST', '/v1/functions', { name: 'f', runtime: 'js', source: '(x) => x' })).body.id;
    const a = await alice.api('POST', '/v1/endpoints', { name: 'alice-ep' });
    const b = await bob.api('POST', '/v1/endpoints', { name: 'bob-ep' });
    aliceEp = { id: a.body.endpoint.id, token: a.body.token };
    bobEp = { id: b.body.endpoint.id, token: b.body.token };
    alicePeer = await ProtocolPeer.connect(server.url, aliceEp.token);
    alicePeer.hello();
    await alicePeer.next('welcome');
    bobPeer = await ProtocolPeer.connect(server.url, bobEp.token);
    bobPeer.hello();
    await bobPeer.next('welcome');
  });

  afterAll(async () => {
    alicePeer?.close();
    bobPeer?.close();
    await server?.stop();
  });

  async function aliceTask(): Promise<string> {
    const r = await alice.api('POST', '/v1/tasks', { functionId: aliceFn, endpointId: aliceEp.id, args: [1] });
    expect(r.status).toBe(201);
    return r.body.taskId;
  }

  it("bob never receives alice's results, even subscribing while they are recorded (20 rounds)", async () => {
    const bobSocket = RawSocket.open(server.url, '/v1/ws/client', bob.token);
    await bobSocket.ready();
    alicePeer.send('credits', { credits: 100 });
    for (let i = 0; i < 20; i++) {
      const taskId = await aliceTask();
      await alicePeer.tasks(1);
      // bob subscribes many times around the moment alice's result is recorded
      for (let k = 0; k < 5; k++) bobSocket.send('subscribe', { taskIds: [taskId] }, `s${i}-${k}`);
      alicePeer.send('results', { results: [ok(taskId)] });
      for (let k = 0; k < 5; k++) bobSocket.send('subscribe', { taskIds: [taskId] }, `t${i}-${k}`);
      await alicePeer.next('ack');
      await eventually(() => bobSocket.frames.filter((f) => f.type === 'subscribed').length >= (i + 1) * 10, 10_000, 'subscribed answers', FRAME_POLL);
    }
    await sleep(300);
    expect(bobSocket.frames.filter((f) => f.type === 'result')).toEqual([]);
    // every answer said the task is not bob's
    for (const f of bobSocket.frames.filter((x) => x.type === 'subscribed')) expect(f.payload.notFound).toHaveLength(1);
    bobSocket.close();
  });

  it("bob's endpoint cannot record, re-publish or start alice's tasks", async () => {
    const bobClient = RawSocket.open(server.url, '/v1/ws/client', bob.token);
    await bobClient.ready();
    const bobConsole = RawSocket.open(server.url, '/v1/ws/console');
    await bobConsole.ready();
    bobConsole.send('auth', { token: bob.token });
    await bobConsole.next('ready');

    // a pending task of alice's, leased to alice's agent
    alicePeer.send('credits', { credits: 1 });
    const pending = await aliceTask();
    await alicePeer.tasks(1);
    // a finished task of alice's
    alicePeer.send('credits', { credits: 1 });
    const done = await aliceTask();
    await alicePeer.tasks(1);
    alicePeer.send('results', { results: [ok(done)] });
    await alicePeer.next('ack');

    for (let round = 0; round < 10; round++) {
      bobClient.send('subscribe', { taskIds: [pending, done] }, `r${round}`);
      bobPeer.send('started', { tasks: [{ taskId: pending, startedAt: Date.now() }] });
      bobPeer.send('results', {
        results: [
          { taskId: pending, attempt: 0, status: 'success', result: 'forged by bob', timings: {} },
          { taskId: done, attempt: 0, status: 'success', result: 'forged by bob', timings: {} },
          { taskId: randomUUID(), attempt: 0, status: 'success', result: 'nobody', timings: {} },
        ],
      });
      // acknowledged, so an agent drops them, but not recorded
      const ack = await bobPeer.next('ack');
      expect(ack.payload.taskIds).toContain(pending);
    }
    await sleep(800);
    expect(bobClient.frames.filter((f) => f.type === 'result')).toEqual([]);
    const seen = bobConsole.frames.filter((f) => f.type === 'events').flatMap((f) => f.payload.tasks.map((t: { id: string }) => t.id));
    expect(seen).not.toContain(pending);
    expect(seen).not.toContain(done);

    const p = await alice.api('GET', `/v1/tasks/${pending}`);
    expect(p.body.status).toBe('dispatched');
    const d = await alice.api('GET', `/v1/tasks/${done}`);
    expect(d.body.status).toBe('success');
    expect(d.body.result).toEqual({ owner: 'alice' });

    // alice's own agent still reports its task normally
    alicePeer.send('results', { results: [ok(pending)] });
    await alicePeer.next('ack');
    expect((await alice.api('GET', `/v1/tasks/${pending}`)).body.status).toBe('success');
    bobClient.close();
    bobConsole.close();
  });

  it('getResults on 8 results of ~9.5 MB returns (frames packed by bytes)', async () => {
    const ids: string[] = [];
    alicePeer.send('credits', { credits: 8 });
    for (let i = 0; i < 8; i++) ids.push(await aliceTask());
    await alicePeer.tasks(8);
    const big = (i: number) => String(i).repeat(9_500_000);
    // one result per frame: 8 × 9.5 MB would pass the agent frame limit
    for (let i = 0; i < 8; i++) {
      alicePeer.send('results', { results: [{ taskId: ids[i]!, attempt: 0, status: 'success', result: big(i), timings: {} }] });
      await alicePeer.next('ack', 60_000);
    }
    const client = new Client({ url: server.url, token: alice.token });
    try {
      const results = await client.getResults<string>(ids, { timeoutMs: 120_000 });
      expect(results.map((r) => r.length)).toEqual(ids.map(() => 9_500_000));
      expect(results.map((r) => r[0])).toEqual(ids.map((_, i) => String(i)));
    } finally {
      client.close();
    }
  });
});
