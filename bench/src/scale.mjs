// The scale workloads: memory per queued task with no endpoint connected (FX and BullMQ), and the
// server's CPU and memory holding many idle endpoint connections that only heartbeat.
import { hostname } from 'node:os';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { Client } from '@fx/sdk';
import { ENDPOINT_PROTOCOL_VERSION, encodeFrame } from '@fx/protocol';
import { FxServer, cpuSeconds, rssBytes, randomPrefix, testRedisUrl, cleanupRedisPrefix } from './procs.mjs';
import { bullConnection } from './systems.mjs';
import { now, sleep } from './stats.mjs';

const REDIS_URL = testRedisUrl();

async function redisUsedMemory(redis) {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)[1]);
}

/** Server RSS per queued task with no endpoint connected (and Redis memory per task alongside). */
export async function fxQueuedMemory(backend, n) {
  const server = await FxServer.start(backend);
  const redis = new Redis(REDIS_URL);
  try {
    const client = new Client({ url: server.url, token: server.adminToken });
    const { endpoint: ep } = await client.registerEndpoint({ name: 'nobody-home' });
    const fn = await client.registerFunction(() => null, { name: 'noop' });
    const batch = Array.from({ length: 10_000 }, () => ({ functionId: fn }));
    // warm-up: code paths, pools and buffers in use before the baseline is taken
    await client.runBatch(ep.id, batch.slice(0, 2_000));
    await sleep(1500);
    const rss0 = rssBytes(server.pid);
    const redis0 = await redisUsedMemory(redis);
    const t0 = now();
    for (let sent = 2_000; sent < n + 2_000; sent += batch.length) await client.runBatch(ep.id, batch.slice(0, Math.min(batch.length, n + 2_000 - sent)));
    const submitMs = now() - t0;
    await sleep(3000);
    const rss1 = rssBytes(server.pid);
    const redis1 = await redisUsedMemory(redis);
    client.close();
    return {
      serverBytesPerTask: (rss1 - rss0) / n,
      serverRssMiB: rss1 / 2 ** 20,
      redisBytesPerTask: backend === 'embedded' ? null : (redis1 - redis0) / n,
      submitTasksPerS: (n / submitMs) * 1000,
    };
  } finally {
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

/** n endpoint connections that say hello and then only heartbeat, as an idle agent does. */
export async function fxIdleConnections(backend, n, windowS) {
  const server = await FxServer.start(backend);
  const sockets = [];
  try {
    const client = new Client({ url: server.url, token: server.adminToken });
    const tokens = [];
    for (let i = 0; i < n; i++) tokens.push((await client.registerEndpoint({ name: `idle-${i}` })).token);
    client.close();
    await sleep(1000);
    const base0 = cpuSeconds(server.pid);
    const tb0 = now();
    await sleep(windowS * 1000);
    const baselineCpu = (cpuSeconds(server.pid) - base0) / ((now() - tb0) / 1000);
    const rss0 = rssBytes(server.pid);
    const wsUrl = `${server.url.replace('http', 'ws')}/v1/ws/endpoint`;
    const heartbeat = { state: 'RUNNING', workers: { total: 2, busy: 0, idle: 2 }, queued: 0, running: 0, spooled: 0, provider: 'local' };
    let welcomed = 0;
    let heartbeatIntervalMs = 5000;
    await Promise.all(
      tokens.map(
        (token, i) =>
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
                }),
              ),
            );
            ws.on('message', (raw) => {
              const frame = JSON.parse(raw.toString());
              if (frame.type !== 'welcome') return;
              welcomed++;
              heartbeatIntervalMs = frame.payload.heartbeatIntervalMs;
              const timer = setInterval(() => ws.readyState === ws.OPEN && ws.send(encodeFrame('heartbeat', heartbeat)), frame.payload.heartbeatIntervalMs);
              timer.unref();
              ws.on('close', () => clearInterval(timer));
              resolve();
            });
          }),
      ),
    );
    // past the first heartbeat of every connection (written at once; later ones are coalesced)
    await sleep(heartbeatIntervalMs * 2 + 1000);
    const c0 = cpuSeconds(server.pid);
    const t0 = now();
    await sleep(windowS * 1000);
    const cpu = (cpuSeconds(server.pid) - c0) / ((now() - t0) / 1000);
    const rss1 = rssBytes(server.pid);
    return { connections: welcomed, serverCpuPercent: cpu * 100, baselineCpuPercent: baselineCpu * 100, serverBytesPerConnection: (rss1 - rss0) / n };
  } finally {
    for (const ws of sockets) ws.terminate();
    await server.stop();
  }
}
