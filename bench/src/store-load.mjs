// Workload `store`: the embedded stores against PostgreSQL + Redis under one big batch (issue 11 item 3).
// A 10,000-task batch runs while a reader asks, every 200 ms, for the newest 50 tasks and for the console
// overview, as a person watching the console does; the agent's status file tells whether its connection
// was ever dropped (its connectedAt changes on every new connection).
import { Client } from '@fx/sdk';
import { FxEndpoint, FxServer, rssBytes } from './procs.mjs';
import { fmt, medians, now, pct, sleep, textTable } from './stats.mjs';

/** The three stores FX can run on, as the benchmark names them. */
export const STORES = {
  fx: { backend: 'postgres+redis', env: {} },
  'fx-embedded': { backend: 'embedded', env: {} },
  'fx-pglite': { backend: 'embedded', env: { FX_EMBEDDED_STORE: 'pglite' } },
};

/** One run on a fresh server of the given store: throughput, read latencies under load, agent drops. */
export async function storeLoad(system, n) {
  const { backend, env } = STORES[system];
  const server = await FxServer.start(backend, { env });
  const endpoint = await FxEndpoint.configure(server, 'store');
  endpoint.start();
  const client = new Client({ url: server.url, token: server.adminToken });
  try {
    const fn = await client.registerFunction(() => null, { name: 'noop' });
    await client.getResults(
      await client.runBatch(
        endpoint.endpointId,
        Array.from({ length: 200 }, () => ({ functionId: fn })),
      ),
      { timeoutMs: 60_000 },
    );
    let firstConnection;
    for (let i = 0; i < 100 && !(firstConnection = await endpoint.connectedAt()); i++) await sleep(100);
    if (!firstConnection) throw new Error('the agent never wrote a connected status');
    const reads = [];
    let failedReads = 0;
    let running = true;
    const get = async (path) => {
      const t0 = now();
      try {
        const res = await fetch(server.url + path, { headers: { authorization: `Bearer ${server.adminToken}` }, signal: AbortSignal.timeout(60_000) });
        await res.arrayBuffer();
        if (!res.ok) failedReads++;
      } catch {
        failedReads++;
      }
      reads.push(now() - t0);
    };
    const reader = (async () => {
      while (running) {
        await Promise.all([get('/v1/tasks?limit=50'), get('/v1/console/overview')]);
        await sleep(200);
      }
    })();
    let lost = 0;
    const watcher = (async () => {
      while (running) {
        if ((await endpoint.connectedAt()) !== firstConnection) lost++;
        await sleep(250);
      }
    })();
    const t0 = now();
    const ids = await client.runBatch(
      endpoint.endpointId,
      Array.from({ length: n }, () => ({ functionId: fn })),
    );
    let done = 0;
    for await (const _ of client.results(ids, { timeoutMs: 600_000 })) done++;
    const ms = now() - t0;
    running = false;
    await Promise.all([reader, watcher]);
    const sorted = reads.sort((a, b) => a - b);
    return {
      tasksPerS: (done / ms) * 1000,
      done,
      readP50Ms: pct(sorted, 50),
      readP99Ms: pct(sorted, 99),
      readMaxMs: sorted.at(-1),
      reads: sorted.length,
      failedReads,
      // samples in which the agent was not on its first connection: 0 means it was never dropped
      agentDrops: lost,
      serverRssMiB: rssBytes(server.pid) / 2 ** 20,
    };
  } finally {
    client.close();
    await endpoint.stop();
    await server.stop();
  }
}

/** The store comparison as table lines: medians per store, and the goals for the default. */
export function storeTable(runs) {
  const { systems: stores, med } = medians(runs, Object.keys(STORES));
  if (!stores.length) return [];
  const pgRate = med('fx', 'tasksPerS');
  const metrics = [
    ['throughput [tasks/s]', 'tasksPerS', 0],
    ['read p50 under load [ms]', 'readP50Ms', 1],
    ['read p99 under load [ms]', 'readP99Ms', 1],
    ['read max [ms]', 'readMaxMs', 1],
    ['failed reads', 'failedReads', 0],
    ['agent drops', 'agentDrops', 0],
    ['server RSS after [MiB]', 'serverRssMiB', 0],
  ];
  const rows = metrics.map(([label, k, d]) => [label, ...stores.map((s) => fmt(med(s, k), d))]);
  const out = textTable(['', ...stores], rows);
  if (runs['fx-embedded']?.length) {
    const ok =
      med('fx-embedded', 'readP99Ms') < 500 &&
      med('fx-embedded', 'agentDrops') === 0 &&
      (!Number.isFinite(pgRate) || med('fx-embedded', 'tasksPerS') >= pgRate / 2);
    out.push(`goal for the default (fx-embedded): read p99 < 500 ms, no agent dropped, throughput ≥ half of fx: ${ok ? 'met' : 'NOT met'}`);
  }
  return out;
}
