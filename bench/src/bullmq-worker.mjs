// The BullMQ side's worker, in a process of its own as FX's workers are: one Worker, concurrency 100,
// a no-op processor. Started by bench.mjs; tells it 'ready' over IPC and stops on 'stop'.
import { Worker } from 'bullmq';

const { BENCH_REDIS_URL, BENCH_QUEUE, BENCH_PREFIX, BENCH_CONCURRENCY } = process.env;
const u = new URL(BENCH_REDIS_URL);
const connection = { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };
const worker = new Worker(BENCH_QUEUE, async () => null, {
  connection,
  prefix: BENCH_PREFIX,
  concurrency: Number(BENCH_CONCURRENCY || 100),
});
worker.on('error', (e) => console.error(`bullmq worker: ${e.message}`));
await worker.waitUntilReady();
process.send?.('ready');
// the benchmark went away (even by SIGKILL): stop rather than work for nobody
process.on('disconnect', () => process.exit(0));
process.on('message', async (m) => {
  if (m === 'stop') {
    await worker.close();
    process.exit(0);
  }
});
