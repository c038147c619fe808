#!/usr/bin/env node
// FX vs BullMQ, side by side, on this machine: `npm run bench` at the repository root (it builds first).
// FX runs as users run it: the built server, a real `fx-endpoint` with its worker processes, PostgreSQL
// and Redis (a fresh database and a random key prefix, removed afterwards), every task durable in
// PostgreSQL; FX on the embedded store (PGlite + in-process broker) is measured too. BullMQ runs against
// the same Redis with one Worker (concurrency 100) in a process of its own. Repetitions alternate the
// systems. Prints a table and writes bench/results/<time>.json. A benchmark, not a test: it asserts nothing.
//
//   npm run bench                       everything, 3 repetitions (about 10 minutes on 2 cores)
//   npm run bench -- --quick            smaller workloads, 1 repetition (a couple of minutes)
//   npm run bench -- --only throughput,latency --reps 5 --no-embedded
//   workloads: throughput, latency, fanin, queued, idle (scale = queued + idle), store (the embedded stores
//   against PostgreSQL + Redis under a 10,000-task batch: store-load.mjs)
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { cpus, totalmem, release, loadavg, hostname } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import WebSocket from 'ws';
import { Client } from '@fx/sdk';
import { PROTOCOL_VERSION, encodeFrame } from '@fx/protocol';
import { FxEndpoint, FxServer, cpuSeconds, root, rssBytes, randomPrefix, testRedisUrl, cleanupRedisPrefix, stopAll, track } from './procs.mjs';
import { testDatabaseUrl } from '@fx/testing';
import { STORES, storeLoad, storeTable } from './store-load.mjs';

const { values: argv } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    reps: { type: 'string' },
    only: { type: 'string' },
    'no-embedded': { type: 'boolean', default: false },
    'no-bullmq': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (argv.help) {
  const lines = readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1);
  console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).join('\n').replace(/^\/\/ ?/gm, ''));
  process.exit(0);
}
const quick = argv.quick;
const SIZES = quick
  ? { throughput: 5_000, latency: 300, faninClients: 10, faninPerClient: 500, faninBatch: 100, queued: 20_000, idle: 200, idleWindowS: 5, store: 10_000 }
  : { throughput: 20_000, latency: 1_000, faninClients: 10, faninPerClient: 2_000, faninBatch: 100, queued: 100_000, idle: 1_000, idleWindowS: 15, store: 10_000 };
const REPS = Number(argv.reps ?? (quick ? 1 : 3));
const WORKLOADS = ['throughput', 'latency', 'fanin', 'queued', 'idle', 'store'];
// 'scale' names both scale workloads (queued, idle)
const only = new Set((argv.only ?? WORKLOADS.join(',')).split(',').flatMap((s) => (s.trim() === 'scale' ? ['queued', 'idle'] : [s.trim()])));
const SYSTEMS = ['fx', ...(argv['no-bullmq'] ? [] : ['bullmq']), ...(argv['no-embedded'] ? [] : ['fx-embedded'])];
const REDIS_URL = testRedisUrl();

const now = () => performance.now();
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (msg) => process.stderr.write(`[bench] ${msg}\n`);

// ---- systems under test ----------------------------------------------------------------------------

async function startFx(backend) {
  const server = await FxServer.start(backend);
  const endpoint = await FxEndpoint.configure(server, 'bench');
  endpoint.start();
  const client = new Client({ url: server.url, token: server.adminToken });
  const fn = await client.registerFunction(() => null, { name: 'noop' });
  // Warm-up: the agent is connected once a task comes back.
  const ids = await client.runBatch(endpoint.endpointId, Array.from({ length: 500 }, () => ({ functionId: fn })));
  await client.getResults(ids, { timeoutMs: 60_000 });
  const sys = {
    name: backend === 'embedded' ? 'fx-embedded' : 'fx',
    server,
    endpoint,
    client,
    fn,
    clients: [],
    async throughput(n) {
      const items = Array.from({ length: n }, () => ({ functionId: fn }));
      const t0 = now();
      const ids = await client.runBatch(endpoint.endpointId, items);
      let seen = 0;
      for await (const _ of client.results(ids, { timeoutMs: 300_000 })) seen++;
      const ms = now() - t0;
      if (seen !== n) throw new Error(`saw ${seen} of ${n} results`);
      return { tasksPerS: (n / ms) * 1000, ms };
    },
    async latency(n) {
      const samples = [];
      for (let i = 0; i < n; i++) {
        const t0 = now();
        const id = await client.run(fn, endpoint.endpointId, []);
        await client.getResult(id, { timeoutMs: 60_000 });
        samples.push(now() - t0);
      }
      return latencyStats(samples);
    },
    async fanin({ faninClients, faninPerClient, faninBatch }) {
      while (sys.clients.length < faninClients) sys.clients.push(new Client({ url: server.url, token: server.adminToken }));
      const batch = Array.from({ length: faninBatch }, () => ({ functionId: fn }));
      const t0 = now();
      const counts = await Promise.all(
        sys.clients.slice(0, faninClients).map(async (c) => {
          const waits = [];
          for (let sent = 0; sent < faninPerClient; sent += faninBatch) {
            const ids = await c.runBatch(endpoint.endpointId, batch);
            waits.push(
              (async () => {
                let k = 0;
                for await (const _ of c.results(ids, { timeoutMs: 300_000 })) k++;
                return k;
              })(),
            );
          }
          return (await Promise.all(waits)).reduce((a, b) => a + b, 0);
        }),
      );
      const ms = now() - t0;
      const total = counts.reduce((a, b) => a + b, 0);
      return { tasksPerS: (total / ms) * 1000, ms };
    },
    async stop() {
      client.close();
      for (const c of sys.clients) c.close();
      await endpoint.stop();
      await server.stop();
    },
  };
  return sys;
}

function bullConnection() {
  const u = new URL(REDIS_URL);
  return { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };
}

async function startBullmq() {
  const prefix = randomPrefix().replace(/:$/, '');
  const name = 'bench';
  const connection = bullConnection();
  const opts = { connection, prefix, streams: { events: { maxLen: 200_000 } } };
  const queue = new Queue(name, opts);
  const events = new QueueEvents(name, { connection, prefix });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  const worker = fork(new URL('./bullmq-worker.mjs', import.meta.url), [], {
    env: { ...process.env, BENCH_REDIS_URL: REDIS_URL, BENCH_QUEUE: name, BENCH_PREFIX: prefix, BENCH_CONCURRENCY: '100' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise((res, rej) => {
    worker.once('message', res);
    worker.once('exit', (c) => rej(new Error(`bullmq worker exited ${c}`)));
  });
  let completed = 0;
  let waiter = null;
  events.on('completed', () => {
    completed++;
    if (waiter && completed >= waiter.target) {
      const w = waiter;
      waiter = null;
      w.resolve();
    }
  });
  const completedAtLeast = (target) => (completed >= target ? Promise.resolve() : new Promise((resolve) => (waiter = { target, resolve })));
  const queues = [];
  const sys = track({
    name: 'bullmq',
    async throughput(n) {
      const target = completed + n;
      const jobs = Array.from({ length: n }, () => ({ name: 't', data: {} }));
      const t0 = now();
      await queue.addBulk(jobs);
      await completedAtLeast(target);
      const ms = now() - t0;
      return { tasksPerS: (n / ms) * 1000, ms };
    },
    async latency(n) {
      const samples = [];
      for (let i = 0; i < n; i++) {
        const t0 = now();
        const job = await queue.add('t', {});
        await job.waitUntilFinished(events, 60_000);
        samples.push(now() - t0);
      }
      return latencyStats(samples);
    },
    async fanin({ faninClients, faninPerClient, faninBatch }) {
      while (queues.length < faninClients) {
        const q = new Queue(name, { connection, prefix });
        await q.waitUntilReady();
        queues.push(q);
      }
      const target = completed + faninClients * Math.ceil(faninPerClient / faninBatch) * faninBatch;
      const t0 = now();
      await Promise.all(
        queues.slice(0, faninClients).map(async (q) => {
          for (let sent = 0; sent < faninPerClient; sent += faninBatch) {
            await q.addBulk(Array.from({ length: faninBatch }, () => ({ name: 't', data: {} })));
          }
        }),
      );
      await completedAtLeast(target);
      const ms = now() - t0;
      return { tasksPerS: ((faninClients * faninPerClient) / ms) * 1000, ms };
    },
    async stop() {
      if (worker.exitCode === null && worker.signalCode === null) {
        const gone = new Promise((r) => worker.once('exit', r));
        worker.send('stop');
        await gone;
      }
      await Promise.all([queue.close(), events.close(), ...queues.map((q) => q.close())]);
      await cleanupRedisPrefix(REDIS_URL, `${prefix}:`);
    },
  });
  return sys;
}

function latencyStats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

// ---- scale -------------------------------------------------------------------------------------------

async function redisUsedMemory(redis) {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)[1]);
}

/** Server RSS per queued task with no endpoint connected (and Redis memory per task alongside). */
async function fxQueuedMemory(backend, n) {
  const server = await FxServer.start(backend);
  const redis = new Redis(REDIS_URL);
  try {
    const client = new Client({ url: server.url, token: server.adminToken });
    const { endpoint: ep } = await client.registerEndpoint({ name: "nobody-home" });
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
    return { serverBytesPerTask: (rss1 - rss0) / n, serverRssMiB: rss1 / 2 ** 20, redisBytesPerTask: backend === 'embedded' ? null : (redis1 - redis0) / n, submitTasksPerS: (n / submitMs) * 1000 };
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

async function bullQueuedMemory(n) {
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
async function fxIdleConnections(backend, n, windowS) {
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
            ws.on('open', () =>
              ws.send(
                encodeFrame('hello', {
                  protocolVersion: PROTOCOL_VERSION,
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

// ---- machine and versions -----------------------------------------------------------------------------

async function machine() {
  const redis = new Redis(REDIS_URL);
  const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1];
  redis.disconnect();
  const c = new pg.Client({ connectionString: testDatabaseUrl() });
  await c.connect();
  const pgVersion = (await c.query('SHOW server_version')).rows[0].server_version;
  await c.end();
  const pkg = (p) => JSON.parse(readFileSync(join(root, p), 'utf8')).version;
  let commit = null;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    if (execFileSync('git', ['status', '--porcelain'], { cwd: root, encoding: 'utf8' }).trim()) commit += '+dirty';
  } catch {
    /* not a git checkout */
  }
  return {
    host: hostname(),
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    kernel: release(),
    loadavgAtStart: loadavg(),
    versions: { node: process.version, fx: commit, bullmq: pkg('node_modules/bullmq/package.json'), redis: redisVersion, postgres: pgVersion },
  };
}

// ---- run ------------------------------------------------------------------------------------------------

const fmt = (v, d = 0) => (v === null || v === undefined || Number.isNaN(v) ? '—' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));

async function main() {
  const started = new Date();
  const info = await machine();
  say(`${info.cores} × ${info.cpu}, load ${info.loadavgAtStart.map((l) => l.toFixed(2)).join(' ')}; ${quick ? 'quick' : 'full'} run, ${REPS} repetition(s)`);
  if (info.loadavgAtStart[0] > 1) say('warning: the machine is busy (load average > 1): timings will be noisy');
  const runs = {}; // workload → system → [sample]
  const push = (w, s, v) => ((runs[w] ??= {})[s] ??= []).push(v);

  const timed = ['throughput', 'latency', 'fanin'].filter((w) => only.has(w));
  if (timed.length) {
    const systems = {};
    for (const s of SYSTEMS) {
      say(`starting ${s}`);
      systems[s] = s === 'bullmq' ? await startBullmq() : await startFx(s === 'fx' ? 'postgres+redis' : 'embedded');
    }
    try {
      for (const w of timed) {
        for (let rep = 0; rep < REPS; rep++) {
          // alternate: each repetition starts with the next system
          const order = SYSTEMS.map((_, i) => SYSTEMS[(i + rep) % SYSTEMS.length]);
          for (const s of order) {
            const arg = w === 'throughput' ? SIZES.throughput : w === 'latency' ? SIZES.latency : SIZES;
            const r = await systems[s][w](arg);
            say(`${w} ${s} #${rep + 1}: ${JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, +v.toFixed(2)])))}`);
            push(w, s, r);
          }
        }
      }
    } finally {
      for (const s of Object.values(systems)) await s.stop().catch((e) => say(`stopping ${s.name}: ${e.message}`));
    }
  }
  if (only.has('queued') || only.has('idle')) {
    for (let rep = 0; rep < REPS; rep++) {
      for (const s of only.has('queued') ? SYSTEMS : []) {
        const r = s === 'bullmq' ? await bullQueuedMemory(SIZES.queued) : await fxQueuedMemory(s === 'fx' ? 'postgres+redis' : 'embedded', SIZES.queued);
        say(`queued ${s} #${rep + 1}: ${JSON.stringify(r)}`);
        push('queued', s, r);
      }
      for (const s of only.has('idle') ? SYSTEMS.filter((x) => x !== 'bullmq') : []) {
        const r = await fxIdleConnections(s === 'fx' ? 'postgres+redis' : 'embedded', SIZES.idle, SIZES.idleWindowS);
        say(`idle ${s} #${rep + 1}: ${JSON.stringify(r)}`);
        push('idle', s, r);
      }
    }
  }

  if (only.has('store')) {
    const stores = Object.keys(STORES).filter((s) => s === 'fx' || !argv['no-embedded']);
    for (let rep = 0; rep < REPS; rep++) {
      for (const s of stores.map((_, i) => stores[(i + rep) % stores.length])) {
        const r = await storeLoad(s, SIZES.store);
        say(`store ${s} #${rep + 1}: ${JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, +v.toFixed(2)])))}`);
        push('store', s, r);
      }
    }
  }

  // medians per metric
  const med = (w, s, k) => median((runs[w]?.[s] ?? []).map((r) => r[k]));
  const rows = [];
  const row = (label, w, k, unit, better, goal, d = 0) => {
    if (!runs[w]) return;
    const fx = med(w, 'fx', k);
    const bull = med(w, 'bullmq', k);
    const emb = med(w, 'fx-embedded', k);
    const ratio = Number.isFinite(fx) && Number.isFinite(bull) && bull !== 0 ? fx / bull : NaN;
    let met = null;
    if (goal) met = goal(fx, bull);
    rows.push({ label, workload: w, metric: k, unit, better, fx, bullmq: bull, ratio, fxEmbedded: emb, goal: goal?.text ?? null, met, d });
  };
  const g = (text, fn) => Object.assign(fn, { text });
  row(`throughput, ${fmt(SIZES.throughput)} tasks`, 'throughput', 'tasksPerS', 'tasks/s', 'higher', g('≥ 1.5× BullMQ', (f, b) => f >= 1.5 * b));
  row(`latency p50, ${fmt(SIZES.latency)} sequential`, 'latency', 'p50', 'ms', 'lower', g('≤ BullMQ', (f, b) => f <= b), 2);
  row('latency p90', 'latency', 'p90', 'ms', 'lower', null, 2);
  row('latency p99', 'latency', 'p99', 'ms', 'lower', g('≤ BullMQ', (f, b) => f <= b), 2);
  row(`fan-in, ${SIZES.faninClients} clients × ${fmt(SIZES.faninPerClient)}`, 'fanin', 'tasksPerS', 'tasks/s', 'higher', null);
  row(`server memory / queued task (${fmt(SIZES.queued)})`, 'queued', 'serverBytesPerTask', 'B', 'lower', g('≤ 1024 B', (f) => f <= 1024));
  row('Redis memory / queued task', 'queued', 'redisBytesPerTask', 'B', 'lower', null);
  row('submit rate while queueing', 'queued', 'submitTasksPerS', 'tasks/s', 'higher', null);
  row(`server CPU, ${fmt(SIZES.idle)} idle endpoints`, 'idle', 'serverCpuPercent', '%', 'lower', g('not measurable (< 1 %)', (f) => f < 1), 2);
  row('server CPU, no endpoints (baseline)', 'idle', 'baselineCpuPercent', '%', 'lower', null, 2);
  row('server memory / idle connection', 'idle', 'serverBytesPerConnection', 'B', 'lower', null);

  const header = ['', 'FX (PG+Redis)', 'BullMQ', 'FX / BullMQ', 'FX embedded', 'goal', 'met'];
  const table = rows.map((r) => [
    `${r.label} [${r.unit}]`,
    fmt(r.fx, r.d),
    fmt(r.bullmq, r.d),
    Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}×` : '—',
    fmt(r.fxEmbedded, r.d),
    r.goal ?? '',
    r.met === null ? '' : r.met ? 'yes' : 'no',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const loadEnd = loadavg();
  console.log(`\nFX vs BullMQ ${info.versions.bullmq}: medians of ${REPS} repetition(s), ${info.cores} × ${info.cpu}, Node ${info.versions.node}, PostgreSQL ${info.versions.postgres}, Redis ${info.versions.redis}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const t of table) console.log(line(t));
  const storeLines = storeTable(runs.store, median, fmt);
  if (storeLines.length) console.log(`\nStores under a ${fmt(SIZES.store)}-task batch (reads: newest 50 tasks + console overview every 200 ms):\n${storeLines.join('\n')}`);
  console.log(`load average at start ${info.loadavgAtStart.map((l) => l.toFixed(2)).join(' ')}, at end ${loadEnd.map((l) => l.toFixed(2)).join(' ')}`);

  const dir = join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${started.toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        startedAt: started.toISOString(),
        finishedAt: new Date().toISOString(),
        quick,
        repetitions: REPS,
        sizes: SIZES,
        machine: { ...info, loadavgAtEnd: loadEnd },
        medians: rows.map(({ d: _d, ...r }) => r),
        ratios: Object.fromEntries(rows.filter((r) => Number.isFinite(r.ratio)).map((r) => [`${r.workload}.${r.metric}`, r.ratio])),
        samples: runs,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`results: ${file}`);
}

// Ctrl-C: stop the servers, agents and workers started, drop their databases and Redis keys.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    say(`${signal}: cleaning up`);
    void stopAll().finally(() => process.exit(130));
  });
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
