// Profiling aid, not part of `npm run bench` (issue 18): on one server at the same moment, `client.run`
// submitting over the client websocket (A) and over REST (B), alternated call by call, so the machine's
// load weighs on both alike. B flips the SDK's internal "this server has no submit frames" switch, which
// sends its submissions over REST and keeps the socket for results (the SDK before issue 18).
//   node bench/src/submit-ab.mjs [agent]     (agent: with a running fx-endpoint, run + getResult too)
const root = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const withAgent = process.argv[2] === 'agent';
const { FxServer, FxEndpoint, stopAll } = await import(`${root}/bench/src/procs.mjs`);
const { Client } = await import(`${root}/libs/sdk/dist/index.js`);
const server = await FxServer.start('postgres+redis');
const ep = await FxEndpoint.configure(server, 'probe', {});
if (withAgent) ep.start();
const A = new Client({ url: server.url, token: server.adminToken });
const B = new Client({ url: server.url, token: server.adminToken });
B.channel.submits.unsupported = true; // REST for submissions, the socket for results (as before issue 18)
const fn = await A.registerFunction(() => null, { name: 'noop' });
if (withAgent)
  await A.getResults(
    await A.runBatch(
      ep.endpointId,
      Array.from({ length: 200 }, () => ({ functionId: fn })),
    ),
  );
const t = { A: { run: [], total: [] }, B: { run: [], total: [] } };
for (let i = 0; i < 350; i++) {
  for (const [k, c] of i % 2
    ? [
        ['A', A],
        ['B', B],
      ]
    : [
        ['B', B],
        ['A', A],
      ]) {
    const t0 = performance.now();
    const id = await c.run(fn, ep.endpointId, []);
    const t1 = performance.now();
    if (withAgent) await c.getResult(id);
    if (i >= 50) {
      t[k].run.push(t1 - t0);
      t[k].total.push(performance.now() - t0);
    }
  }
}
const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * p)].toFixed(2);
for (const k of ['A', 'B'])
  console.log(
    `${k === 'A' ? 'socket' : 'REST  '}: run p50 ${q(t[k].run, 0.5)} p90 ${q(t[k].run, 0.9)} ms${withAgent ? `; run+getResult p50 ${q(t[k].total, 0.5)} p90 ${q(t[k].total, 0.9)} ms` : ''}`,
  );
A.close();
B.close();
await stopAll();
process.exit(0);
