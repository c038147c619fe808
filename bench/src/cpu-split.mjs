// Profiling aid, not part of `npm run bench`: where the CPU of a workload goes, process by process, for
// FX (PostgreSQL + Redis) and BullMQ side by side. On a machine with C cores a workload that keeps them
// busy cannot go faster than C / (CPU seconds per task), so CPU per task says what throughput can reach
// and which process to make cheaper. CPU time is read from /proc, which other jobs on the machine disturb
// far less than wall time (they still cost cache and scheduling; and Redis is shared, so its column is
// only this run's when nothing else uses that Redis).
// With PROF=DIR the server's V8 CPU profile of each FX window (through its inspector, so start-up and
// warm-up are left out) is written to DIR.
//   N=20000 SEQ=300 [PROF=DIR] node bench/src/cpu-split.mjs [fx|bullmq|both]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { cpuSeconds, databaseBackends, stopAll } from './procs.mjs';
import { Inspector, freePort, inspectArg } from './inspector.mjs';
import { startBullmq, startFx } from './systems.mjs';
import { now } from './stats.mjs';

const n = Number(process.env.N ?? 20_000);
const seq = Number(process.env.SEQ ?? 300);
const which = process.argv[2] ?? 'both';

const redisPid = () => {
  try {
    return Number(execFileSync('pidof', ['redis-server'], { encoding: 'utf8' }).trim().split(/\s+/)[0]);
  } catch {
    return NaN;
  }
};
/** The pids and all their descendants (a worker may be a sandbox, bwrap, whose child runs the task). */
const withDescendants = (pids) => {
  const children = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      // gone meanwhile
    }
  }
  const out = [];
  const walk = (p) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  for (const p of pids) walk(p);
  return out;
};
const selfCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** CPU seconds of named groups of pids, read twice: what ran in between, per task. */
async function measure(groups, what, tasks, run, inspector) {
  const read = async () => {
    const out = {};
    for (const [name, pids] of Object.entries(await groups())) {
      out[name] = name === 'bench (SDK / Queue)' ? selfCpu() : pids.reduce((a, p) => a + (cpuSeconds(p) || 0), 0);
    }
    return out;
  };
  if (inspector) await inspector.call('Profiler.enable').then(() => inspector.call('Profiler.start'));
  const before = await read();
  const t0 = now();
  await run();
  const ms = now() - t0;
  const after = await read();
  if (inspector) {
    mkdirSync(process.env.PROF, { recursive: true });
    const file = join(process.env.PROF, `${what.replace(/\W+/g, '-')}.cpuprofile`);
    writeFileSync(file, JSON.stringify((await inspector.call('Profiler.stop')).profile));
    console.log(`(server profile: ${file})`);
  }
  const rows = Object.keys(after).map((k) => [k, ((after[k] - (before[k] ?? 0)) * 1e6) / tasks]);
  const total = rows.reduce((a, [, us]) => a + us, 0);
  console.log(`\n${what}: ${tasks} tasks in ${ms.toFixed(0)} ms (${((tasks / ms) * 1000).toFixed(0)} tasks/s), load ${loadavg()[0].toFixed(2)}`);
  for (const [k, us] of rows) console.log(`  ${k.padEnd(26)} ${us.toFixed(0).padStart(7)} µs CPU/task  ${((us / total) * 100).toFixed(0).padStart(3)} %`);
  console.log(
    `  ${'total'.padEnd(26)} ${total.toFixed(0).padStart(7)} µs CPU/task → at most ${((cpus().length * 1e6) / total).toFixed(0)} tasks/s on ${cpus().length} cores`,
  );
}

async function fx() {
  const port = process.env.PROF ? await freePort() : undefined;
  const sys = await startFx('postgres+redis', { nodeArgs: port ? [inspectArg(port)] : [] });
  const { server, endpoint: ep, client, fn } = sys;
  const inspector = port ? await Inspector.connect(port) : undefined;
  const backends = await databaseBackends(server.env.DATABASE_URL);
  const groups = async () => ({
    server: [server.pid],
    'agent (fx-endpoint)': [ep.pid],
    workers: withDescendants(await ep.workerPids()),
    'PostgreSQL backends': await backends.pids(),
    'Redis (shared)': [redisPid()],
    'bench (SDK / Queue)': [],
  });
  if (n > 0)
    await measure(
      groups,
      'FX throughput (one batch)',
      n,
      async () => {
        const ids = await client.runBatch(
          ep.endpointId,
          Array.from({ length: n }, () => ({ functionId: fn })),
        );
        for await (const _ of client.results(ids, { timeoutMs: 300_000 }));
      },
      inspector,
    );
  if (seq > 0)
    await measure(
      groups,
      'FX sequential run + getResult',
      seq,
      async () => {
        for (let i = 0; i < seq; i++) await client.getResult(await client.run(fn, ep.endpointId, []));
      },
      inspector,
    );
  await backends.close();
  inspector?.close();
  await sys.stop();
}

async function bullmq() {
  const sys = await startBullmq();
  const groups = async () => ({ worker: [sys.workerPid], 'Redis (shared)': [redisPid()], 'bench (SDK / Queue)': [] });
  await sys.throughput(500);
  if (n > 0) await measure(groups, 'BullMQ throughput (addBulk)', n, () => sys.throughput(n));
  if (seq > 0) await measure(groups, 'BullMQ sequential add + waitUntilFinished', seq, () => sys.latency(seq));
  await sys.stop();
}

try {
  if (which !== 'bullmq') await fx();
  if (which !== 'fx') await bullmq();
} finally {
  await stopAll();
}
