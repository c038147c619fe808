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
//   npm run bench -- --quick --only idle --idle 1000   (--queued N, --idle N: the scale workloads' sizes)
//   workloads: throughput, latency, fanin, graph (FX only: a 2-stage graph vs the same tasks without edges), queued, idle (scale = queued + idle), store (the embedded stores
//   against PostgreSQL + Redis under a 10,000-task batch: store-load.mjs), memo (memoized results: 10,000
//   uncached against 9,000 cached + 1,000 new, and the cache flag on a batch that misses: memo-load.mjs),
//   objects (put / get of 1 GiB against the disk's sequential throughput, 1,000 tasks sharing an input: objects-load.mjs)
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { cpus, totalmem, release, loadavg, hostname } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import pg from 'pg';
import { testDatabaseUrl } from '@fx/testing';
import { root, testRedisUrl, stopAll } from './procs.mjs';
import { bullQueuedMemory, fxIdleConnections, fxQueuedMemory } from './scale.mjs';
import { fmt, median, say } from './stats.mjs';
import { STORES, storeLoad, storeTable } from './store-load.mjs';
import { memoLoad, memoTable } from './memo-load.mjs';
import { objectsLoad, objectsTable } from './objects-load.mjs';
import { startBullmq, startFx } from './systems.mjs';

const { values: argv } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    reps: { type: 'string' },
    only: { type: 'string' },
    'no-embedded': { type: 'boolean', default: false },
    'no-bullmq': { type: 'boolean', default: false },
    queued: { type: 'string' },
    idle: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (argv.help) {
  const lines = readFileSync(new URL(import.meta.url), 'utf8')
    .split('\n')
    .slice(1);
  console.log(
    lines
      .slice(
        0,
        lines.findIndex((l) => !l.startsWith('//')),
      )
      .join('\n')
      .replace(/^\/\/ ?/gm, ''),
  );
  process.exit(0);
}
const quick = argv.quick;
const SIZES = quick
  ? {
      throughput: 5_000,
      latency: 300,
      faninClients: 10,
      faninPerClient: 500,
      faninBatch: 100,
      queued: 20_000,
      idle: 200,
      idleWindowS: 5,
      store: 10_000,
      memo: 10_000,
      objects: { mib: 256, tasks: 1_000 },
    }
  : {
      throughput: 20_000,
      latency: 1_000,
      faninClients: 10,
      faninPerClient: 2_000,
      faninBatch: 100,
      queued: 100_000,
      idle: 1_000,
      idleWindowS: 15,
      store: 10_000,
      memo: 10_000,
      objects: { mib: 1024, tasks: 1_000 },
    };
// --queued N, --idle N: the scale workloads' sizes, whatever --quick says
if (argv.queued) SIZES.queued = Number(argv.queued);
if (argv.idle) SIZES.idle = Number(argv.idle);
const REPS = Number(argv.reps ?? (quick ? 1 : 3));
const WORKLOADS = ['throughput', 'latency', 'fanin', 'graph', 'queued', 'idle', 'store', 'memo', 'objects'];
// 'scale' names both scale workloads (queued, idle)
const only = new Set((argv.only ?? WORKLOADS.join(',')).split(',').flatMap((s) => (s.trim() === 'scale' ? ['queued', 'idle'] : [s.trim()])));
const SYSTEMS = ['fx', ...(argv['no-bullmq'] ? [] : ['bullmq']), ...(argv['no-embedded'] ? [] : ['fx-embedded'])];
const REDIS_URL = testRedisUrl();

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

/** The FX backend a system name stands for: `fx` on PostgreSQL and Redis, `fx-embedded` on the embedded stores. */
const fxBackend = (s) => (s === 'fx' ? 'postgres+redis' : 'embedded');
/** `list` rotated left by `n`: repetition n starts with the n-th entry. */
const rotate = (list, n) => list.map((_, i) => list[(i + n) % list.length]);
/** A sample with its numbers rounded to `digits`, for the progress lines. */
const rounded = (r, digits) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, +v.toFixed(digits)]));

// ---- run ------------------------------------------------------------------------------------------------

async function main() {
  const started = new Date();
  const info = await machine();
  say(`${info.cores} × ${info.cpu}, load ${info.loadavgAtStart.map((l) => l.toFixed(2)).join(' ')}; ${quick ? 'quick' : 'full'} run, ${REPS} repetition(s)`);
  if (info.loadavgAtStart[0] > 1) say('warning: the machine is busy (load average > 1): timings will be noisy');
  const runs = {}; // workload → system → [sample]
  const push = (w, s, v) => ((runs[w] ??= {})[s] ??= []).push(v);
  // REPS rounds of one workload, each round starting with the next system (none always goes first);
  // `run` resolves undefined for a system that has no such workload.
  const rounds = async (w, systems, run, digits) => {
    for (let rep = 0; rep < REPS; rep++) {
      for (const s of rotate(systems, rep)) {
        const r = await run(s);
        if (r === undefined) continue;
        say(`${w} ${s} #${rep + 1}: ${JSON.stringify(digits === undefined ? r : rounded(r, digits))}`);
        push(w, s, r);
      }
    }
  };

  const timed = ['throughput', 'latency', 'fanin', 'graph'].filter((w) => only.has(w));
  if (timed.length) {
    const systems = {};
    for (const s of SYSTEMS) {
      say(`starting ${s}`);
      systems[s] = s === 'bullmq' ? await startBullmq() : await startFx(fxBackend(s));
    }
    try {
      for (const w of timed) {
        const arg = w === 'throughput' || w === 'graph' ? SIZES.throughput : w === 'latency' ? SIZES.latency : SIZES;
        // BullMQ has no dataflow edges: graph is FX's alone
        await rounds(w, SYSTEMS, (s) => systems[s][w]?.(arg), 2);
      }
    } finally {
      for (const s of Object.values(systems)) await s.stop().catch((e) => say(`stopping ${s.name}: ${e.message}`));
    }
  }
  if (only.has('queued') || only.has('idle')) {
    for (let rep = 0; rep < REPS; rep++) {
      for (const s of only.has('queued') ? SYSTEMS : []) {
        const r = s === 'bullmq' ? await bullQueuedMemory(SIZES.queued) : await fxQueuedMemory(fxBackend(s), SIZES.queued);
        say(`queued ${s} #${rep + 1}: ${JSON.stringify(r)}`);
        push('queued', s, r);
      }
      for (const s of only.has('idle') ? SYSTEMS.filter((x) => x !== 'bullmq') : []) {
        const r = await fxIdleConnections(fxBackend(s), SIZES.idle, SIZES.idleWindowS);
        say(`idle ${s} #${rep + 1}: ${JSON.stringify(r)}`);
        push('idle', s, r);
      }
    }
  }

  if (only.has('store')) {
    const stores = Object.keys(STORES).filter((s) => s === 'fx' || !argv['no-embedded']);
    await rounds('store', stores, (s) => storeLoad(s, SIZES.store), 2);
  }
  const fxSystems = SYSTEMS.filter((s) => s !== 'bullmq');
  if (only.has('memo')) await rounds('memo', fxSystems, (s) => memoLoad(fxBackend(s), SIZES.memo), 1);
  if (only.has('objects')) await rounds('objects', fxSystems, (s) => objectsLoad(fxBackend(s), SIZES.objects), 1);

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
  row(
    `throughput, ${fmt(SIZES.throughput)} tasks`,
    'throughput',
    'tasksPerS',
    'tasks/s',
    'higher',
    g('≥ 1.0× BullMQ', (f, b) => f >= b),
  );
  row(
    `latency p50, ${fmt(SIZES.latency)} sequential`,
    'latency',
    'p50',
    'ms',
    'lower',
    g('≤ 3 ms', (f) => f <= 3),
    2,
  );
  row('latency p90', 'latency', 'p90', 'ms', 'lower', null, 2);
  row(
    'latency p99',
    'latency',
    'p99',
    'ms',
    'lower',
    g('≤ 10 ms', (f) => f <= 10),
    2,
  );
  row(`fan-in, ${SIZES.faninClients} clients × ${fmt(SIZES.faninPerClient)}`, 'fanin', 'tasksPerS', 'tasks/s', 'higher', null);
  row(`graph, ${fmt(SIZES.throughput)} tasks in 2 stages (edges)`, 'graph', 'tasksPerS', 'tasks/s', 'higher', null);
  row('the same tasks without edges', 'graph', 'flatTasksPerS', 'tasks/s', 'higher', null);
  row(
    `server heap retained / queued task (${fmt(SIZES.queued)}, after GC)`,
    'queued',
    'retainedBytesPerTask',
    'B',
    'lower',
    g('≤ 1024 B', (f) => f <= 1024),
  );
  row('server RSS growth / queued task', 'queued', 'serverBytesPerTask', 'B', 'lower', null);
  row('Redis memory / queued task', 'queued', 'redisBytesPerTask', 'B', 'lower', null);
  row('submit rate while queueing', 'queued', 'submitTasksPerS', 'tasks/s', 'higher', null);
  row(
    `server CPU, ${fmt(SIZES.idle)} idle endpoints`,
    'idle',
    'serverCpuPercent',
    '%',
    'lower',
    g('< 1 % of a core', (f) => f < 1),
    2,
  );
  row(`server CPU, the minute after ${fmt(SIZES.idle)} hellos`, 'idle', 'afterHellosCpuPercent', '%', 'lower', null, 2);
  row('server CPU, no endpoints (baseline)', 'idle', 'baselineCpuPercent', '%', 'lower', null, 2);
  row('server memory / idle connection', 'idle', 'serverBytesPerConnection', 'B', 'lower', null);
  row('PostgreSQL transactions with the idle endpoints', 'idle', 'pgTransactionsPerS', '/s', 'lower', null, 1);
  row('endpoint-channel frames with the idle endpoints', 'idle', 'framesPerS', '/s', 'lower', null, 1);

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
  console.log(
    `\nFX vs BullMQ ${info.versions.bullmq}: medians of ${REPS} repetition(s), ${info.cores} × ${info.cpu}, Node ${info.versions.node}, PostgreSQL ${info.versions.postgres}, Redis ${info.versions.redis}`,
  );
  if (table.length) {
    console.log(line(header));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const t of table) console.log(line(t));
  }
  const storeLines = storeTable(runs.store);
  if (storeLines.length)
    console.log(`\nStores under a ${fmt(SIZES.store)}-task batch (reads: newest 50 tasks + console overview every 200 ms):\n${storeLines.join('\n')}`);
  const memoLines = memoTable(runs.memo, SIZES.memo);
  if (memoLines.length) console.log(`\nMemoized results, one batch each, submit and until every result:\n${memoLines.join('\n')}`);
  const objectLines = objectsTable(runs.objects, SIZES.objects);
  if (objectLines.length) console.log(`\nObjects, against this machine's disk in the same run:\n${objectLines.join('\n')}`);
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
