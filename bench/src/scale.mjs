// The scale workloads: memory per queued task with no endpoint connected (FX and BullMQ), and the
// server's CPU and memory holding many idle endpoint connections that only heartbeat.
import { hostname } from 'node:os';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import WebSocket from 'ws';
import { Client } from '@fx/sdk';
import { ENDPOINT_PROTOCOL_VERSION, encodeFrame } from '@fx/protocol';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FxServer, cpuSeconds, rssBytes, randomPrefix, testRedisUrl, cleanupRedisPrefix } from './procs.mjs';
import { bullConnection } from './systems.mjs';
import { now, sleep } from './stats.mjs';
import { Inspector, freePort, inspectArg } from './inspector.mjs';

const REDIS_URL = testRedisUrl();
/** Idle connections that say hello at the same time. */
const IDLE_WAVE = 50;
/** How long the server is left alone after a burst of work before a figure is read (see fxIdleConnections). */
const SETTLE_MS = 40_000;

async function redisUsedMemory(redis) {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)[1]);
}

/**
 * What the server retains per queued task with no endpoint connected: its heap after forced full GCs
 * (through its inspector, see inspector.mjs), before and after queueing n tasks; RSS growth (which keeps
 * the allocations' high-water mark) and Redis memory per task alongside. With FX_BENCH_HEAP_SNAPSHOTS=DIR
 * the server's heap snapshots before and after go to DIR, for a diff in Chrome's DevTools.
 */
export async function fxQueuedMemory(backend, n) {
  const port = await freePort();
  const server = await FxServer.start(backend, { nodeArgs: [inspectArg(port)] });
  const redis = new Redis(REDIS_URL);
  const inspector = await Inspector.connect(port);
  const snapshots = process.env.FX_BENCH_HEAP_SNAPSHOTS;
  try {
    const client = new Client({ url: server.url, token: server.adminToken });
    const { endpoint: ep } = await client.registerEndpoint({ name: 'nobody-home' });
    const fn = await client.registerFunction(() => null, { name: 'noop' });
    const batch = Array.from({ length: 10_000 }, () => ({ functionId: fn }));
    // warm-up: code paths, pools and buffers in use before the baseline is taken
    await client.runBatch(ep.id, batch.slice(0, 2_000));
    await sleep(1500);
    const heap0 = await inspector.retainedBytes();
    if (snapshots) await inspector.heapSnapshot(join(snapshots, `queued-${backend}-before.heapsnapshot`));
    const rss0 = rssBytes(server.pid);
    const redis0 = await redisUsedMemory(redis);
    const t0 = now();
    for (let sent = 2_000; sent < n + 2_000; sent += batch.length) await client.runBatch(ep.id, batch.slice(0, Math.min(batch.length, n + 2_000 - sent)));
    const submitMs = now() - t0;
    await sleep(3000);
    const rss1 = rssBytes(server.pid);
    const heap1 = await inspector.retainedBytes();
    if (snapshots) await inspector.heapSnapshot(join(snapshots, `queued-${backend}-after.heapsnapshot`));
    const redis1 = await redisUsedMemory(redis);
    client.close();
    return {
      retainedBytesPerTask: (heap1.retained - heap0.retained) / n,
      heapUsedBytesPerTask: (heap1.heapUsed - heap0.heapUsed) / n,
      retainedMiB: heap1.retained / 2 ** 20,
      serverBytesPerTask: (rss1 - rss0) / n,
      serverRssMiB: rss1 / 2 ** 20,
      redisBytesPerTask: backend === 'embedded' ? null : (redis1 - redis0) / n,
      submitTasksPerS: (n / submitMs) * 1000,
    };
  } finally {
    inspector.close();
    redis.disconnect();
    await server.stop();
  }
}

export async function bullQueuedMemory(n) {
  const prefix = randomPrefix().replace(/:$/, '');
  const redis = new Redis(REDIS_URL);
  const queue = new Queue('scale', { connection: bullConnection(), prefix });
  try {
    await queue.waitUntilReady();
    await queue.addBulk(Array.from({ length: 1000 }, () => ({ name: 't', data: {} })));
    const redis0 = await redisUsedMemory(redis);
    const t0 = now();
    for (let sent = 0; sent < n; sent += 10_000) await queue.addBulk(Array.from({ length: Math.min(10_000, n - sent) }, () => ({ name: 't', data: {} })));
    const submitMs = now() - t0;
    const redis1 = await redisUsedMemory(redis);
    return { serverBytesPerTask: null, redisBytesPerTask: (redis1 - redis0) / n, submitTasksPerS: (n / submitMs) * 1000 };
  } finally {
    await queue.close();
    redis.disconnect();
    await cleanupRedisPrefix(REDIS_URL, `${prefix}:`);
  }
}

/** Transactions committed or rolled back so far in the server's PostgreSQL database (a count, unlike CPU time not disturbed by other load). */
async function transactions(server) {
  if (!server.env.DATABASE_URL) return NaN;
  const db = new pg.Client({ connectionString: server.env.DATABASE_URL });
  await db.connect();
  try {
    const { rows } = await db.query('SELECT (xact_commit + xact_rollback)::float8 AS n FROM pg_stat_database WHERE datname = current_database()');
    return rows[0].n;
  } finally {
    await db.end();
  }
}

/** Resolves when `count` more bursts of the server's pings have ended (no ping for longer than its liveness check's period). */
async function pingBursts(frames, count, intervalMs) {
  const QUIET_MS = 3_000;
  for (let i = 0; i < count; i++) {
    const seen = frames.pings;
    const deadline = Date.now() + 3 * intervalMs;
    while (frames.pings === seen) {
      if (Date.now() > deadline) throw new Error(`no ping from the server in ${3 * intervalMs} ms (3 idle intervals)`);
      await sleep(100);
    }
    while (Date.now() - frames.lastPingAt < QUIET_MS) {
      if (Date.now() > deadline) throw new Error(`the server's pings never paused for ${QUIET_MS} ms in ${3 * intervalMs} ms`);
      await sleep(100);
    }
  }
}

/**
 * What an idle agent's session does (apps/endpoint/src/agent/agent.session.ts, beat, and heartbeat.pacer.ts):
 * against a server that takes pongs for heartbeats (welcome.pongHeartbeats), its unchanged status every
 * 6th interval only, and its own ping only when the server has been silent for an interval and a half (the
 * server pings it each interval, the socket answers); against an older one, a heartbeat and a ping every
 * interval. Against a server with an idle cadence (welcome.idleHeartbeatIntervalMs), the intervals that
 * count are idle ones: this agent holds no task. `frames` counts the frames either way.
 */
function idleAgentBeats(ws, welcome, frame, frames) {
  const { heartbeatIntervalMs: tickMs, pongHeartbeats } = welcome;
  const intervalMs = pongHeartbeats === true ? (welcome.idleHeartbeatIntervalMs ?? tickMs) : tickMs;
  const refreshTicks = 6 * Math.max(1, Math.round(intervalMs / tickMs));
  let heardAt = Date.now();
  let tick = 0;
  ws.on('ping', () => {
    heardAt = Date.now();
    frames.in++;
    frames.out++; // the socket's pong
    frames.pings++;
    frames.lastPingAt = heardAt;
  });
  ws.on('pong', () => {
    heardAt = Date.now();
    frames.in++;
  });
  const timer = setInterval(() => {
    if (ws.readyState !== ws.OPEN) return;
    if (!pongHeartbeats || tick++ % refreshTicks === 0) {
      ws.send(frame());
      frames.out++;
    }
    if (!pongHeartbeats || Date.now() - heardAt > intervalMs * 1.5) {
      ws.ping();
      frames.out++;
    }
  }, tickMs).unref();
  ws.on('close', () => clearInterval(timer));
}

/**
 * n endpoint connections that say hello and then only heartbeat, as an idle agent does (idleAgentBeats):
 * the server's CPU with no connection, in the window after the hellos, and in the next one (the cost of
 * holding them). With `cpuProfile` (a file), the server's V8 CPU profile of that last window is written
 * there; `probe` (idle-statements.mjs) is started and stopped around the no-connection window and that last one.
 */
export async function fxIdleConnections(backend, n, windowS, { cpuProfile, probe } = {}) {
  const port = cpuProfile ? await freePort() : undefined;
  // the endpoint tokens all belong to the admin user: lift the per-user and per-address socket caps, and the endpoint count
  const server = await FxServer.start(backend, {
    nodeArgs: port ? [inspectArg(port)] : [],
    env: { FX_MAX_SOCKETS_PER_USER: '0', FX_MAX_SOCKETS_PER_ADDRESS: '0', FX_MAX_ENDPOINTS_PER_USER: String(n + 10), ...probe?.serverEnv },
  });
  const inspector = port ? await Inspector.connect(port) : undefined;
  const sockets = [];
  try {
    const client = new Client({ url: server.url, token: server.adminToken });
    const tokens = [];
    for (let i = 0; i < n; i++) tokens.push((await client.registerEndpoint({ name: `idle-${i}` })).token);
    client.close();
    // V8's memory reducer shrinks the heap the registrations grew some 20-30 s later (its full GCs):
    // the baseline and the RSS before the connections are read after it
    await sleep(SETTLE_MS);
    await probe?.start(server);
    const base0 = cpuSeconds(server.pid);
    const tb0 = now();
    await sleep(windowS * 1000);
    const baselineCpu = (cpuSeconds(server.pid) - base0) / ((now() - tb0) / 1000);
    await probe?.stop('no connection', (now() - tb0) / 1000);
    const rss0 = rssBytes(server.pid);
    const wsUrl = `${server.url.replace('http', 'ws')}/v1/ws/endpoint`;
    const heartbeat = { state: 'RUNNING', workers: { total: 2, busy: 0, idle: 2 }, queued: 0, running: 0, spooled: 0, provider: 'local' };
    let welcomed = 0;
    let heartbeatIntervalMs = 5000;
    let idleHeartbeatIntervalMs = 0;
    const frames = { in: 0, out: 0, pings: 0, lastPingAt: 0 };
    const connect = (token, i) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(wsUrl, { headers: { Authorization: `Bearer ${token}` } });
        sockets.push(ws);
        ws.on('error', reject);
        // A refused hello (wrong protocol version, a cap) closes the socket: say so instead of waiting forever.
        ws.on('close', (code, reason) => reject(new Error(`idle connection ${i} closed before its welcome: ${code} ${reason}`)));
        ws.on('open', () =>
          ws.send(
            encodeFrame('hello', {
              protocolVersion: ENDPOINT_PROTOCOL_VERSION,
              agent: { name: `idle-${i}`, version: 'bench', hostname: hostname(), pid: process.pid, platform: 'bench', provider: 'local', workers: 2 },
              inFlight: [],
              pongHeartbeats: true,
            }),
          ),
        );
        ws.on('message', (raw) => {
          const frame = JSON.parse(raw.toString());
          if (frame.type !== 'welcome') return;
          welcomed++;
          heartbeatIntervalMs = frame.payload.heartbeatIntervalMs;
          idleHeartbeatIntervalMs = frame.payload.idleHeartbeatIntervalMs ?? 0;
          idleAgentBeats(ws, frame.payload, () => encodeFrame('heartbeat', heartbeat), frames);
          resolve();
        });
      });
    // in waves, as agents coming back after a restart would not all say hello in the same 10 s either
    for (let i = 0; i < n; i += IDLE_WAVE) await Promise.all(tokens.slice(i, i + IDLE_WAVE).map((token, j) => connect(token, i + j)));
    // past the first heartbeat of every connection (written at once; later ones are coalesced)
    await sleep(heartbeatIntervalMs * 2 + 1000);
    // whole idle intervals, two at least: the agents said hello within a few seconds of each other, so
    // the server's idle pings come in one burst per idle interval, which a shorter window may miss
    const windowMs = Math.max(windowS * 1000, 2 * idleHeartbeatIntervalMs);
    // The first window still holds the aftermath of 1,000 hellos at once: V8 shrinks the heap they grew
    // (its memory reducer's full GCs, on helper threads, some 20-30 s after the burst; bench/README.md).
    // What holding idle connections costs is the second window's.
    const h0 = cpuSeconds(server.pid);
    const th0 = now();
    await sleep(windowMs);
    const afterHellosCpu = (cpuSeconds(server.pid) - h0) / ((now() - th0) / 1000);
    // The server pings idle connections in bursts, once an idle interval and a little more (its liveness
    // check's period): a fixed window held one burst or two by its phase, half or all of the frames. The
    // measured window runs from the end of one burst to the end of the second next, whole intervals.
    const burstsOfPings = idleHeartbeatIntervalMs > heartbeatIntervalMs && frames.pings > 0;
    if (burstsOfPings) await pingBursts(frames, 1, idleHeartbeatIntervalMs);
    await inspector?.call('Profiler.enable');
    await inspector?.call('Profiler.start');
    await probe?.start(server);
    const x0 = await transactions(server);
    const c0 = cpuSeconds(server.pid);
    const f0 = frames.in + frames.out;
    const t0 = now();
    await (burstsOfPings ? pingBursts(frames, 2, idleHeartbeatIntervalMs) : sleep(windowMs));
    const cpu = (cpuSeconds(server.pid) - c0) / ((now() - t0) / 1000);
    const framesPerS = (frames.in + frames.out - f0) / ((now() - t0) / 1000);
    const pgTransactionsPerS = backend === 'embedded' ? null : ((await transactions(server)) - x0) / ((now() - t0) / 1000);
    await probe?.stop(`${welcomed} idle connections`, (now() - t0) / 1000);
    if (inspector) writeFileSync(cpuProfile, JSON.stringify((await inspector.call('Profiler.stop')).profile));
    const rss1 = rssBytes(server.pid);
    return {
      connections: welcomed,
      serverCpuPercent: cpu * 100,
      afterHellosCpuPercent: afterHellosCpu * 100,
      baselineCpuPercent: baselineCpu * 100,
      serverBytesPerConnection: (rss1 - rss0) / n,
      pgTransactionsPerS,
      framesPerS,
      idleHeartbeatIntervalMs,
    };
  } finally {
    inspector?.close();
    for (const ws of sockets) ws.terminate();
    await server.stop();
  }
}
