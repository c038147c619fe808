// Profiling aid, not part of `npm run bench`: the agent's worker pool alone (built dist), 2 js workers of
// depth 16 kept full with no-op tasks, as the agent keeps them in a batch. Prints the writes to the
// workers per task and the CPU per task of this process (the pool's side) and of the workers, from
// /proc: counts and CPU, which a loaded machine disturbs far less than the whole system's figures.
// ROOT is the checkout whose build is measured (another worktree's, to compare).
//   N=20000 [ROOT=/path/to/checkout] node bench/src/pool-cpu.mjs
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = process.env.ROOT ?? fileURLToPath(new URL('../..', import.meta.url));
const { WorkerPool } = await import(`${root}/apps/endpoint/dist/providers/local/worker.pool.js`);
const n = Number(process.env.N ?? 20_000);
const inFlight = 32;
const pool = new WorkerPool({ size: 2, depth: 16 });
await pool.start();
let writes = 0;
let messages = 0;
// every write to a worker, counted: its link's (a pipe on fd 3, one line a message), or Node's IPC send
// in a checkout from before the js workers' pipe (a `batch` envelope carries several messages)
const count = () => {
  for (const w of pool.workers) {
    if (w.child.counted) continue;
    w.child.counted = true;
    if (typeof w.child.send === 'function') {
      const send = w.child.send.bind(w.child);
      w.child.send = (m, ...rest) => {
        writes++;
        messages += m?.type === 'batch' ? m.messages.length : 1;
        return send(m, ...rest);
      };
    } else {
      const pipe = w.child.stdio[3];
      const write = pipe.write.bind(pipe);
      pipe.write = (chunk, ...rest) => {
        writes++;
        messages += String(chunk).split('\n').length - 1;
        return write(chunk, ...rest);
      };
    }
  }
};
count();
setInterval(count, 5).unref();
const workerCpu = () =>
  pool.pids().reduce((a, pid) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return a + (Number(f[11]) + Number(f[12])) / 100;
  }, 0);
const invocation = { source: '() => null', contentHash: 'h'.repeat(64), args: [], kwargs: {}, maxResultBytes: 1e6 };
const w0 = workerCpu();
const c0 = process.cpuUsage();
const t0 = Date.now();
let started = 0;
let done = 0;
await new Promise((resolve) => {
  const one = () => {
    if (started >= n) return;
    pool.run(`t${started++}`, invocation, new AbortController().signal).then((outcome) => {
      if (outcome.status !== 'success') console.log(outcome);
      if (++done === n) resolve();
      else one();
    });
  };
  for (let i = 0; i < inFlight; i++) one();
});
const cpu = process.cpuUsage(c0);
const w1 = workerCpu();
console.log(
  `${n} tasks in ${Date.now() - t0} ms: ${(writes / n).toFixed(3)} writes and ${(messages / n).toFixed(3)} messages to workers per task; ` +
    `µs of CPU per task: pool ${((cpu.user + cpu.system) / n).toFixed(0)}, workers ${(((w1 - w0) * 1e6) / n).toFixed(0)}; load ${loadavg()[0].toFixed(1)}`,
);
await pool.stop();
