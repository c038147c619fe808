// The systems under test, started the way users start them: FX (the built server and a real
// fx-endpoint, on PostgreSQL + Redis or on the embedded store) and BullMQ (a Queue here, a Worker in a
// process of its own). Each returns the same workload methods: throughput, latency, fanin, stop.
import { fork } from 'node:child_process';
import { Queue, QueueEvents } from 'bullmq';
import { Client, itemRef } from '@fx/sdk';
import { FxEndpoint, FxServer, randomPrefix, testRedisUrl, cleanupRedisPrefix, track } from './procs.mjs';
import { latencyStats, now } from './stats.mjs';

const REDIS_URL = testRedisUrl();

export async function startFx(backend, { nodeArgs } = {}) {
  const server = await FxServer.start(backend, { nodeArgs });
  const endpoint = await FxEndpoint.configure(server, 'bench');
  endpoint.start();
  const client = new Client({ url: server.url, token: server.adminToken });
  const fn = await client.registerFunction(() => null, { name: 'noop' });
  const same = await client.registerFunction((x) => x, { name: 'same' });
  // Warm-up: the agent is connected once a task comes back.
  const ids = await client.runBatch(
    endpoint.endpointId,
    Array.from({ length: 500 }, () => ({ functionId: fn })),
  );
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
    // n tasks as n/2 pairs (stage 2 takes stage 1's result through an edge), then the same n tasks
    // without edges; each request holds whole pairs (a batch refers only to its own items)
    async graph(n) {
      const run = async (edges) => {
        const t0 = now();
        const waits = [];
        for (let start = 0; start < n / 2; start += 5_000) {
          const pairs = Math.min(5_000, n / 2 - start);
          const stage1 = Array.from({ length: pairs }, (_, i) => ({ functionId: same, args: [start + i] }));
          const stage2 = Array.from({ length: pairs }, (_, i) => ({ functionId: same, args: [edges ? itemRef(i) : start + i] }));
          const ids = await client.runBatch(endpoint.endpointId, [...stage1, ...stage2]);
          waits.push(client.getResults(ids, { timeoutMs: 300_000 }));
        }
        await Promise.all(waits);
        return now() - t0;
      };
      const graphMs = await run(true);
      const flatMs = await run(false);
      return { tasksPerS: (n / graphMs) * 1000, flatTasksPerS: (n / flatMs) * 1000, ms: graphMs };
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

/** `fn` against a fresh FX system of `backend` (server, endpoint, client), which is stopped afterwards. */
export async function withFx(backend, fn) {
  const sys = await startFx(backend);
  try {
    return await fn(sys);
  } finally {
    await sys.stop();
  }
}

export function bullConnection() {
  const u = new URL(REDIS_URL);
  return { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };
}

export async function startBullmq() {
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
    workerPid: worker.pid,
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
