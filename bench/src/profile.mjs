// Profiling aid, not part of `npm run bench`: one FX (real server + fx-endpoint), 40 sequential tasks with
// their timelines, then one batch of N tasks. With PROF=1 the server writes a V8 CPU profile to
// /tmp/fxprobe; FX_BENCH_AGENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the agent too.
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
const rows = [];
for (let i = 0; i < 40; i++) {
  const t0 = performance.now();
  const w0 = Date.now();
  const id = await client.run(fn, ep.endpointId, []);
  const t1 = performance.now();
  await client.getResult(id);
  const t2 = performance.now();
  const t = await client.getTask(id);
  const tl = t.timeline;
  const ms = (s) => (s ? Date.parse(s) - w0 : null);
  rows.push([+(t1 - t0).toFixed(1), +(t2 - t0).toFixed(1), ms(tl.receivedAt), ms(tl.dispatchedAt), ms(tl.runningAt), ms(tl.completedAt)]);
}
console.log('submitMs totalMs received dispatched running completed');
for (const r of rows.slice(-10)) console.log(r.join('\t'));
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
client.close();
await ep.stop();
await server.stop();
