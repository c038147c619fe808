// Profiling aid, not part of `npm run bench`: one FX (real server + fx-endpoint), 40 sequential tasks with
// their timelines, then one batch of N tasks. With PROF=1 the server writes a V8 CPU profile to
// /tmp/fxprobe; FX_BENCH_AGENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the agent too.
// With STATEMENTS=1 (a PostgreSQL started with shared_preload_libraries=pg_stat_statements, e.g. through
// FX_TEST_DATABASE_URL) it prints the statements the batch ran, calls per task: counts, unlike wall time,
// do not depend on what else the machine runs.
//   N=10000 [WORKERS=4] PROF=1 node bench/src/profile.mjs [postgres+redis|embedded]
import { Client } from '@fx/sdk';
import { FxEndpoint, FxServer } from './procs.mjs';
const backend = process.argv[2] ?? 'postgres+redis';
const server = await FxServer.start(backend, { nodeArgs: process.env.PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/fxprobe'] : [] });
const ep = await FxEndpoint.configure(server, 'bench', { workers: process.env.WORKERS ? Number(process.env.WORKERS) : undefined });
ep.start();
const client = new Client({ url: server.url, token: server.adminToken });
const fn = await client.registerFunction(() => null, { name: 'noop' });
await client.getResults(
  await client.runBatch(
    ep.endpointId,
    Array.from({ length: 200 }, () => ({ functionId: fn })),
  ),
);
const statements = process.env.STATEMENTS ? await statementCounter(server.env.DATABASE_URL) : null;
await statements?.reset();
const rows = [];
const seqIds = [];
for (let i = 0; i < 40; i++) {
  const t0 = performance.now();
  const w0 = Date.now();
  const id = await client.run(fn, ep.endpointId, []);
  const t1 = performance.now();
  await client.getResult(id);
  const t2 = performance.now();
  seqIds.push(id);
  const t = await client.getTask(id);
  const tl = t.timeline;
  const ms = (s) => (s ? Date.parse(s) - w0 : null);
  rows.push([+(t1 - t0).toFixed(1), +(t2 - t0).toFixed(1), ms(tl.receivedAt), ms(tl.dispatchedAt), ms(tl.runningAt), ms(tl.completedAt)]);
}
await statements?.report(40, 'sequential tasks');
// the worker's finish (the agent's clock, this machine's) to the result's commit, in µs
const finished = (await statements?.finishToCompleted(seqIds)) ?? new Map();
for (const [i, id] of seqIds.entries()) rows[i].push(finished.get(id) ?? null);
console.log('submitMs totalMs received dispatched running completed finish->completed');
for (const r of rows.slice(-10)) console.log(r.join('\t'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const last30 = rows.slice(-30);
console.log(
  `medians of the last 30: submit ${median(last30.map((r) => r[0]))} ms, total ${median(last30.map((r) => r[1]))} ms, finish->completed ${median(last30.map((r) => r[6] ?? 0))} ms`,
);
await statements?.reset();
const n = Number(process.env.N ?? 5000);
const t0 = performance.now();
const ids = await client.runBatch(
  ep.endpointId,
  Array.from({ length: n }, () => ({ functionId: fn })),
);
const t1 = performance.now();
for await (const _ of client.results(ids));
console.log(
  `batch ${n}: submit ${(t1 - t0).toFixed(0)} ms, all ${(performance.now() - t0).toFixed(0)} ms, ${((n / (performance.now() - t0)) * 1000).toFixed(0)}/s`,
);
await statements?.report(n, 'tasks of the batch');
await statements?.close();
client.close();
await ep.stop();
await server.stop();

/** pg_stat_statements of the server's database: reset before the batch, read after it. */
async function statementCounter(url) {
  const { default: pg } = await import('pg');
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  return {
    reset: () => db.query('SELECT pg_stat_statements_reset()'),
    close: () => db.end(),
    async finishToCompleted(ids) {
      const { rows } = await db.query(
        `SELECT id::text, round((extract(epoch FROM completed_at) * 1000 - (timings->>'finishedAt')::float8)::numeric, 1)::float8 AS ms
         FROM tasks WHERE id = ANY($1::uuid[])`,
        [ids],
      );
      return new Map(rows.map((r) => [r.id, r.ms]));
    },
    async report(tasks, what) {
      const { rows } = await db.query(
        `SELECT calls, rows, total_exec_time, query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND query NOT ILIKE '%pg_stat_statements%' ORDER BY calls DESC`,
      );
      const calls = rows.reduce((a, r) => a + Number(r.calls), 0);
      console.log(`statements: ${calls} calls for ${tasks} ${what} (${(calls / tasks).toFixed(3)} per task)`);
      for (const r of rows.slice(0, 20))
        console.log(
          `${String(r.calls).padStart(7)} ${(Number(r.calls) / tasks).toFixed(3).padStart(7)}/task ${Number(r.total_exec_time).toFixed(0).padStart(6)} ms  ${r.query.replace(/\s+/g, ' ').slice(0, 110)}`,
        );
    },
  };
}
