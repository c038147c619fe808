// Profiling aid, not part of `npm run bench` (issue 14): the memo bench's mixed batch (9,000 cached + 1,000
// new) against a batch of its 1,000 new tasks, alternated on one system, with the CPU time (/proc) of the
// server and of the PostgreSQL backends of the run's database beside wall time, which the machine's load
// disturbs much more. Prints one JSON line per phase and the medians.
//   node bench/src/memo-cpu.mjs [reps=6]
import { randomUUID } from 'node:crypto';
import { startFx } from './systems.mjs';
import { cpuSeconds, databaseBackends, stopAll } from './procs.mjs';
import { now } from './stats.mjs';

const reps = Number(process.argv[2] ?? 6);
const sys = await startFx('postgres+redis');
const backends = await databaseBackends(sys.server.env.DATABASE_URL);
const memo = await sys.client.registerFunction((...xs) => xs.length, { name: 'memo', cache: { ttlSeconds: 3600 } });
const args = (prefix, count) => Array.from({ length: count }, (_, i) => [prefix, i]);
async function phase(name, fn, list) {
  // per backend: one that exits mid-phase takes its CPU with it (rare: the pool keeps them), one that starts counts from 0
  const pids = await backends.pids();
  const pg0 = new Map(pids.map((p) => [p, cpuSeconds(p) || 0]));
  const s0 = cpuSeconds(sys.server.pid);
  const t0 = now();
  const ids = await sys.client.runBatch(
    sys.endpoint.endpointId,
    list.map((a) => ({ functionId: fn, args: a })),
  );
  const submitMs = now() - t0;
  let seen = 0;
  for await (const _ of sys.client.results(ids, { timeoutMs: 600_000 })) seen++;
  const totalMs = now() - t0;
  await new Promise((r) => setTimeout(r, 300)); // the tail of the phase's own statements (metrics, settle)
  const pids1 = await backends.pids();
  const pgCpu = pids1.reduce((s, p) => s + (cpuSeconds(p) || 0) - (pg0.get(p) ?? 0), 0);
  const r = {
    name,
    seen,
    submitMs: Math.round(submitMs),
    totalMs: Math.round(totalMs),
    serverCpuMs: Math.round((cpuSeconds(sys.server.pid) - s0) * 1000),
    pgCpuMs: Math.round(pgCpu * 1000),
    pgNew: pids1.filter((p) => !pids.includes(p)).length,
  };
  console.log(JSON.stringify(r));
  return r;
}
try {
  const primed = randomUUID();
  await phase('prime', memo, args(primed, 10_000));
  const out = { mixed: [], small: [] };
  for (let i = 0; i < reps; i++) {
    const order = (i % 2 ? ['small', 'mixed'] : ['mixed', 'small']).filter((k) => !process.env.MEMO_ONLY || k === process.env.MEMO_ONLY);
    for (const k of order) {
      if (k === 'mixed') out.mixed.push(await phase('mixed', memo, [...args(primed, 9_000), ...args(randomUUID(), 1_000)]));
      else out.small.push(await phase('small', sys.fn, args(randomUUID(), 1_000)));
    }
  }
  const med = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const [k, rs] of Object.entries(out)) {
    console.log(k, Object.fromEntries(['submitMs', 'totalMs', 'serverCpuMs', 'pgCpuMs'].map((f) => [f, med(rs.map((r) => r[f]))])));
  }
} finally {
  await backends.close();
  await sys.stop();
  await stopAll();
}
