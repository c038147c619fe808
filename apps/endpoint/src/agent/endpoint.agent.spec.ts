import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENDPOINT_PROTOCOL_VERSION, ERROR_LIMITS, MAX_OUTPUT_CHARS, type RemoteError } from '@fx/protocol';
import type { Provider } from '../providers/provider.js';
import { FakeProvider } from '../testing/fake-provider.js';
import { stopAll } from '../testing/agent.harness.js';
import { FakeFxServer, type FakeFxServerOptions } from '../testing/fake-fx-server.js';
import { makeTask } from '../testing/task.factory.js';
import { AgentState } from './agent.state.js';
import { EndpointAgent, chunkResults, endpointSocketUrl, type EndpointAgentOptions } from './endpoint.agent.js';
import { ResultSpool } from './result.spool.js';
import { readStatusFile } from './status.file.js';

const echo = (n = 0) => makeTask('js', '(x) => x', { args: [n] });

describe('EndpointAgent', () => {
  let server: FakeFxServer;
  let agent: EndpointAgent | undefined;
  let dir: string;

  async function setup(
    provider: Provider,
    options: { server?: FakeFxServerOptions; agent?: Partial<EndpointAgentOptions>; start?: boolean } = {},
  ): Promise<EndpointAgent> {
    server = new FakeFxServer(options.server);
    const url = await server.listen();
    agent = new EndpointAgent({
      url,
      token: server.endpointToken,
      name: 'test-endpoint',
      provider,
      spoolDir: join(dir, 'spool'),
      statusFile: join(dir, 'status.json'),
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
      drainTimeoutSeconds: 5,
      statusIntervalMs: 10,
      ...options.agent,
    });
    if (options.start !== false) await agent.start();
    return agent;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fx-agent-spec-'));
  });
  afterEach(async () => {
    await stopAll(agent, server, dir);
    agent = undefined;
  });

  /** Results a restart of the agent would find in its spool and resend (read without changing the spool). */
  const spooled = () => ResultSpool.count(join(dir, 'spool'));

  it('says hello, is welcomed, and grants its free capacity as credits', async () => {
    const a = await setup(new FakeProvider(3), { agent: { prefetch: 2 } });
    await a.waitForState(AgentState.RUNNING);
    await server.waitFor(() => server.framesOf('credits').length > 0, 'credits');
    const hello = server.connections[0]?.hello;
    expect(hello).toMatchObject({
      protocolVersion: ENDPOINT_PROTOCOL_VERSION,
      agent: { name: 'test-endpoint', provider: 'fake', workers: 3, pid: process.pid },
      inFlight: [],
    });
    expect(server.framesOf('credits')).toEqual([{ credits: 5 }]);
    expect(a.connection).toBe('connected');
  });

  it('never holds more tasks than capacity + prefetch, runs them all, and empties the spool on ack', async () => {
    const provider = new FakeProvider(2);
    await setup(provider, { agent: { prefetch: 1 } });
    const tasks = Array.from({ length: 60 }, (_, i) => echo(i));
    server.enqueue(...tasks);
    await server.waitFor(() => server.results.size === 60, 'all results');
    expect(server.maxCommitted).toBeLessThanOrEqual(3);
    expect(provider.maxActive).toBeLessThanOrEqual(2);
    expect(server.allResults).toHaveLength(60);
    expect(server.results.get(tasks[7]!.taskId)).toMatchObject({ status: 'success', result: [7], attempt: 0 });
    // Coalesced: fewer credit frames than tasks.
    expect(server.framesOf('credits').length).toBeLessThan(60);
    // Every start reaches the server: in `started` while the task runs, or in its result's timings.
    const reportedStarted = new Set(server.framesOf('started').flatMap((f) => f.tasks.map((t) => t.taskId)));
    for (const t of tasks) expect(reportedStarted.has(t.taskId) || typeof server.results.get(t.taskId)?.timings.startedAt === 'number').toBe(true);
    await server.waitFor(() => true, 'nothing');
    const deadline = Date.now() + 5000;
    while ((await spooled()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await spooled()).toBe(0);
  });

  it('keeps results in the spool until acked and resends them after a reconnect', async () => {
    const provider = new FakeProvider(2);
    const a = await setup(provider, { server: { autoAck: false } });
    const tasks = [echo(1), echo(2)];
    server.enqueue(...tasks);
    await server.waitFor(() => server.results.size === 2, 'results');
    expect(await spooled()).toBe(2);

    // The server "loses" what it got (no ack, no record) and the connection drops.
    server.results.clear();
    server.autoAck = true;
    server.cut();
    await server.waitFor(() => server.connections.length === 2 && server.connections[1]!.hello !== undefined, 'a second hello');
    expect(server.connections[1]!.hello!.inFlight.sort()).toEqual(tasks.map((t) => t.taskId).sort());
    await server.waitFor(() => server.results.size === 2, 'the resent results');
    await a.waitForState(AgentState.RUNNING);
    const deadline = Date.now() + 5000;
    while ((await spooled()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await spooled()).toBe(0);
  });

  it('grants credits again on a new connection, while tasks held from the old one keep running', async () => {
    const provider = new FakeProvider(2, 'manual');
    await setup(provider, { agent: { prefetch: 0 } });
    const running = echo(1);
    server.enqueue(running);
    await server.waitFor(() => provider.isRunning(running.taskId), 'the task to start');
    server.cut();
    await server.waitFor(() => server.connections[1]?.hello !== undefined && server.connections[1].granted > 0, 'credits on the new connection');
    expect(server.connections[1]!.hello!.inFlight).toEqual([running.taskId]);
    // One slot is still busy with the old task: only the free one is granted.
    expect(server.connections[1]!.granted).toBe(1);
    provider.release(running.taskId);
    await server.waitFor(() => server.results.has(running.taskId), 'the result on the new connection');
  });

  it("cuts what a worker reports to the protocol's bounds: its error and what it printed", async () => {
    const provider = new FakeProvider(2, 'manual');
    await setup(provider);
    const [failed, printed] = [echo(1), echo(2)];
    server.enqueue(failed, printed);
    await server.waitFor(() => [failed, printed].every((t) => provider.isRunning(t.taskId)), 'the tasks to start');
    const huge = 'é'.repeat(10 * 1024 * 1024);
    provider.release(failed.taskId, {
      status: 'failed',
      error: { code: 'NOT_A_CODE' as 'TASK_ERROR', name: huge, message: huge, stack: huge, extra: huge } as RemoteError,
    });
    provider.release(printed.taskId, { status: 'success', result: 1, output: { stdout: huge, stderr: 'e' } });
    await server.waitFor(() => server.results.size === 2, 'the results');
    const error = server.results.get(failed.taskId)!.error!;
    expect(Object.keys(error).sort()).toEqual(['code', 'message', 'name', 'stack']);
    expect(error.code).toBe('TASK_ERROR');
    for (const [part, limit] of Object.entries(ERROR_LIMITS))
      expect(Buffer.byteLength(error[part as keyof typeof ERROR_LIMITS]!)).toBeLessThanOrEqual(limit + 64);
    expect(error.message).toMatch(/^é+… \[truncated \d+ bytes\]$/);
    const output = server.results.get(printed.taskId)!.output!;
    expect([output.stdout.length, output.stderr, output.truncated]).toEqual([MAX_OUTPUT_CHARS, 'e', true]);
  });

  it('resends what a crashed predecessor left in the spool', async () => {
    const left = new ResultSpool({ dir: join(dir, 'spool') });
    await left.load();
    const orphan = { taskId: echo().taskId, attempt: 2, status: 'success' as const, result: 'from before the crash', timings: {} };
    await left.write([orphan]);
    await setup(new FakeProvider(1));
    await server.waitFor(() => server.results.has(orphan.taskId), 'the spooled result');
    expect(server.connections[0]!.hello!.inFlight).toEqual([orphan.taskId]);
    expect(server.results.get(orphan.taskId)).toEqual(orphan);
  });

  it('drops spooled results the server says to forget', async () => {
    const left = new ResultSpool({ dir: join(dir, 'spool') });
    await left.load();
    const done = { taskId: echo().taskId, attempt: 0, status: 'success' as const, result: 1, timings: {} };
    await left.write([done]);
    const a = await setup(new FakeProvider(1), { start: false });
    server.results.set(done.taskId, done);
    await a.start();
    await a.waitForState(AgentState.RUNNING);
    await server.waitFor(() => server.framesOf('credits').length > 0, 'credits');
    expect(server.allResults).toEqual([]);
    const deadline = Date.now() + 5000;
    while ((await spooled()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await spooled()).toBe(0);
  });

  it('treats a protocol-version refusal as fatal: FAILED, no retry', async () => {
    const a = await setup(new FakeProvider(1), {
      server: { refuseHello: { code: 'UNSUPPORTED_PROTOCOL_VERSION', message: 'this server speaks protocol version 2' } },
    });
    expect(await a.done).toBe(AgentState.FAILED);
    expect(server.connections).toHaveLength(1);
    expect(a.snapshot().lastError).toMatch(/protocol version 2/);
    expect((await readStatusFile(join(dir, 'status.json')))?.state).toBe('FAILED');
  });

  it('treats a refused token as fatal', async () => {
    const a = await setup(new FakeProvider(1), { agent: { token: 'wrong' } });
    expect(await a.done).toBe(AgentState.FAILED);
    expect(a.snapshot().lastError).toMatch(/endpoint token is not valid \(UNAUTHENTICATED\)/);
    expect(server.connections).toHaveLength(1);
  });

  it('retries after an error that is not fatal', async () => {
    const a = await setup(new FakeProvider(1), { server: { refuseHello: { code: 'UNAVAILABLE', message: 'starting up' } } });
    await server.waitFor(() => server.connections.length >= 3, 'retries');
    expect(a.state).toBe(AgentState.CONNECTING);
  });

  it('keeps retrying with backoff while the server is unreachable', async () => {
    const provider = new FakeProvider(1);
    server = new FakeFxServer();
    agent = new EndpointAgent({
      url: 'http://127.0.0.1:1',
      token: 't',
      name: 'x',
      provider,
      spoolDir: join(dir, 'spool'),
      reconnect: { initialDelayMs: 5, maxDelayMs: 10 },
    });
    await agent.start();
    await new Promise((r) => setTimeout(r, 150));
    expect(agent.state).toBe(AgentState.CONNECTING);
    expect(agent.snapshot().lastError).toMatch(/connection to ws:\/\/127\.0\.0\.1:1\/v1\/ws\/endpoint failed/);
    await agent.stop();
    expect(agent.state).toBe(AgentState.STOPPED);
  });

  it('cancels a running task without reporting a result, and frees its slot', async () => {
    const provider = new FakeProvider(1, 'manual');
    await setup(provider, { agent: { prefetch: 0 } });
    const victim = echo(1);
    const next = echo(2);
    server.enqueue(victim, next);
    await server.waitFor(() => provider.isRunning(victim.taskId), 'the task to start');
    server.send('cancel', { taskIds: [victim.taskId] });
    await server.waitFor(() => provider.isRunning(next.taskId), 'the next task to start');
    expect(provider.aborted.map((a) => a.taskId)).toEqual([victim.taskId]);
    provider.release(next.taskId);
    await server.waitFor(() => server.results.has(next.taskId), 'the next result');
    expect(server.results.has(victim.taskId)).toBe(false);
  });

  it('fails a task whose source does not match its content hash', async () => {
    await setup(new FakeProvider(1));
    const tampered = makeTask('js', '() => "evil"', { contentHash: makeTask('js', '() => "good"').function.contentHash });
    server.enqueue(tampered);
    await server.waitFor(() => server.results.has(tampered.taskId), 'the result');
    expect(server.results.get(tampered.taskId)).toMatchObject({ status: 'failed', error: { code: 'CONTENT_HASH_MISMATCH' } });
  });

  it('sends heartbeats with its status, and reconnects when the server goes silent', async () => {
    const a = await setup(new FakeProvider(2), { server: { autoPong: false, welcome: { heartbeatIntervalMs: 50, heartbeatTimeoutMs: 200 } } });
    await server.waitFor(() => server.framesOf('heartbeat').length > 0, 'a heartbeat');
    expect(server.framesOf('heartbeat')[0]).toMatchObject({
      state: 'RUNNING',
      workers: { total: 2, busy: 0, idle: 2 },
      queued: 0,
      running: 0,
      spooled: 0,
      provider: 'fake',
    });
    // The fake server never answers pings and sends nothing: the agent must give up on the socket.
    await server.waitFor(() => server.connections.length >= 2, 'a reconnect after the heartbeat timeout');
    expect(a.state).not.toBe(AgentState.FAILED);
  });

  /** Pings the agent gets from the fake server every `intervalMs` (as the real server pings a pong-heartbeat agent), and counts the agent's own. */
  async function pingTraffic(intervalMs: number) {
    await server.waitFor(() => server.current?.hello !== undefined, 'a connection');
    const socket = server.current!.socket;
    const counts = { agentPings: 0, serverPings: 0 };
    socket.on('ping', () => counts.agentPings++);
    const timer = setInterval(() => {
      if (socket.readyState !== socket.OPEN) return;
      socket.ping();
      counts.serverPings++;
    }, intervalMs);
    return { counts, stop: () => clearInterval(timer) };
  }

  it('with a server that takes pongs for heartbeats: a heartbeat only when its status changed (or every 6th tick), no ping of its own while the server pings it', async () => {
    const provider = new FakeProvider(2, 'manual');
    await setup(provider, { agent: { prefetch: 0 }, server: { welcome: { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 2_000, pongHeartbeats: true } } });
    const traffic = await pingTraffic(100);
    expect(server.connections[0]?.hello).toMatchObject({ pongHeartbeats: true });
    try {
      await server.waitFor(() => server.framesOf('heartbeat').length > 0, 'the first heartbeat');
      const start = Date.now();
      await new Promise((r) => setTimeout(r, 1_300));
      const ticks = Math.floor((Date.now() - start) / 100);
      // about 13 ticks with one status: the first heartbeat, and a refresh every 6th tick (2 or 3 more)
      const idle = server.framesOf('heartbeat').length;
      expect(idle).toBeGreaterThanOrEqual(2);
      expect(idle).toBeLessThanOrEqual(1 + Math.ceil(ticks / 6) + 1);
      // the server's pings keep the agent informed (one a little late may draw a ping of the agent's own)
      expect(traffic.counts.agentPings).toBeLessThanOrEqual(1);

      // the status changes (a task runs): the next tick reports it
      const task = echo(1);
      server.enqueue(task);
      await server.waitFor(() => server.framesOf('heartbeat').some((h) => h.running === 1), 'a heartbeat with the running task');
      provider.release(task.taskId);
      await server.waitFor(() => server.framesOf('heartbeat').at(-1)?.running === 0, 'a heartbeat with the task done');

      // the server stops pinging: the agent pings it itself (and hears its pongs, so it stays connected)
      traffic.stop();
      const before = traffic.counts.agentPings;
      await server.waitFor(() => traffic.counts.agentPings >= before + 2, 'pings of the agent');
      expect(server.connections).toHaveLength(1);
    } finally {
      traffic.stop();
    }
  });

  it('with a server that has an idle cadence: its thresholds while the agent holds no task, the normal ones while it holds one', async () => {
    const provider = new FakeProvider(2, 'manual');
    const welcome = { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 400, pongHeartbeats: true, idleHeartbeatIntervalMs: 600, idleHeartbeatTimeoutMs: 2_400 };
    await setup(provider, { agent: { prefetch: 0 }, server: { welcome } });
    // the server pings it once an idle interval only
    const traffic = await pingTraffic(600);
    try {
      await server.waitFor(() => server.framesOf('heartbeat').length > 0, 'the first heartbeat');
      await new Promise((r) => setTimeout(r, 1_500));
      // silent up to 600 ms at a time: past the normal thresholds (150 ms to ping, 400 ms to reconnect), within the idle ones
      expect(traffic.counts.agentPings).toBeLessThanOrEqual(1);
      expect(server.connections).toHaveLength(1);

      // a task runs: the normal thresholds again, so the agent pings a server silent for 150 ms itself
      const task = echo(1);
      server.enqueue(task);
      await server.waitFor(() => server.framesOf('heartbeat').some((h) => h.running === 1), 'a heartbeat with the running task');
      const before = traffic.counts.agentPings;
      await server.waitFor(() => traffic.counts.agentPings >= before + 2, 'pings of the agent while it holds a task');
      provider.release(task.taskId);
      await server.waitFor(() => server.framesOf('heartbeat').at(-1)?.running === 0, 'a heartbeat with the task done');
      expect(server.connections).toHaveLength(1);
    } finally {
      traffic.stop();
    }
  });

  it('with an older server (no pongHeartbeats in welcome): a heartbeat and a ping at every tick, even when the server pings it', async () => {
    await setup(new FakeProvider(2), { server: { welcome: { heartbeatIntervalMs: 50, heartbeatTimeoutMs: 1_000 } } });
    const traffic = await pingTraffic(50);
    try {
      await server.waitFor(() => server.framesOf('heartbeat').length >= 8, 'eight heartbeats');
      // the same status every time, all sent; each tick's ping too
      expect(new Set(server.framesOf('heartbeat').map((h) => JSON.stringify(h))).size).toBe(1);
      expect(traffic.counts.agentPings).toBeGreaterThanOrEqual(6);
    } finally {
      traffic.stop();
    }
  });

  it('drains on stop: no new credits, the running task finishes, its result is acked, then STOPPED', async () => {
    const provider = new FakeProvider(2, 'manual');
    const a = await setup(provider, { agent: { prefetch: 0 } });
    const task = echo(1);
    server.enqueue(task);
    await server.waitFor(() => provider.isRunning(task.taskId), 'the task to start');
    const creditsBefore = server.framesOf('credits').length;
    const stopped = a.stop();
    await a.waitForState(AgentState.DRAINING).catch(() => undefined);
    expect(a.state).toBe(AgentState.DRAINING);
    provider.release(task.taskId, { status: 'success', result: 'finished while draining' });
    await stopped;
    expect(a.state).toBe(AgentState.STOPPED);
    expect(server.results.get(task.taskId)).toMatchObject({ result: 'finished while draining' });
    expect(server.framesOf('credits')).toHaveLength(creditsBefore);
    expect(await spooled()).toBe(0);
    expect((await readStatusFile(join(dir, 'status.json')))?.state).toBe('STOPPED');
  });

  it('abandons tasks still running when the drain time is up', async () => {
    const provider = new FakeProvider(1, 'manual');
    const a = await setup(provider, { agent: { drainTimeoutSeconds: 0.2, prefetch: 0 } });
    const task = echo(1);
    server.enqueue(task);
    await server.waitFor(() => provider.isRunning(task.taskId), 'the task to start');
    await a.stop();
    expect(a.state).toBe(AgentState.STOPPED);
    expect(provider.aborted.map((x) => x.taskId)).toEqual([task.taskId]);
    expect(server.results.has(task.taskId)).toBe(false);
  });

  it('keeps status.json current', async () => {
    const a = await setup(new FakeProvider(2, 'manual'), { agent: { prefetch: 0 } });
    await a.waitForState(AgentState.RUNNING);
    server.enqueue(echo(1));
    const path = join(dir, 'status.json');
    const deadline = Date.now() + 5000;
    let status = await readStatusFile(path);
    while (status?.tasks.running !== 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      status = await readStatusFile(path);
    }
    expect(status).toMatchObject({
      name: 'test-endpoint',
      pid: process.pid,
      state: 'RUNNING',
      connection: 'connected',
      tasks: { queued: 0, running: 1 },
      workers: { total: 2, busy: 1 },
    });
  });
});

describe('endpointSocketUrl', () => {
  it('maps http(s) to ws(s) under the same prefix', () => {
    expect(endpointSocketUrl('http://localhost:3000')).toBe('ws://localhost:3000/v1/ws/endpoint');
    expect(endpointSocketUrl('https://fx.example.org/api/')).toBe('wss://fx.example.org/api/v1/ws/endpoint');
    expect(() => endpointSocketUrl('ftp://x')).toThrow(/http/);
  });
});

describe('chunkResults', () => {
  it('splits by count and by size', () => {
    const r = (size: number) => ({ taskId: 'x', attempt: 0, status: 'success' as const, result: 'x'.repeat(size), timings: {} });
    expect(chunkResults([r(1), r(1), r(1)], 2).map((c) => c.length)).toEqual([2, 1]);
    expect(chunkResults([r(600), r(600), r(10)], 500, 1200).map((c) => c.length)).toEqual([1, 2]);
  });

  it('measures each result in bytes as sent, errors and multi-byte text included', () => {
    const maxBytes = 32 * 1024 * 1024;
    const failed = {
      taskId: 'f',
      attempt: 0,
      status: 'failed' as const,
      error: { code: 'TASK_ERROR' as const, name: 'E', message: 'x'.repeat(20e6) },
      timings: {},
    };
    const wide = { taskId: 'w', attempt: 0, status: 'success' as const, result: '€'.repeat(6e6), timings: {} };
    const other = { taskId: 'o', attempt: 0, status: 'success' as const, result: 1, timings: {} };
    for (const results of [
      [failed, failed, other],
      [wide, wide, other],
    ]) {
      const chunks = chunkResults(results, 100, maxBytes);
      expect(chunks.length).toBeGreaterThan(1);
      for (const chunk of chunks) expect(Buffer.byteLength(JSON.stringify({ results: chunk }))).toBeLessThanOrEqual(maxBytes);
    }
  });
});
