// Profiling aid, not part of `npm run bench`: SEQ sequential `run` + `getResult` round trips (FX on
// PostgreSQL + Redis), and the CPU each thread of the server and of the agent spent meanwhile, user and
// system time apart (from /proc/<pid>/task), per round trip. System time is the kernel's work for the
// thread (socket writes and reads, wake-ups), which a V8 profile does not show.
//   SEQ=1000 node bench/src/seq-threads.mjs
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@fx/sdk';
import { FxEndpoint, FxServer, stopAll } from './procs.mjs';

const seq = Number(process.env.SEQ ?? 1000);
const TICK_US = 1e6 / 100; // USER_HZ

/** utime and stime, in µs, of each thread of a process, by thread name. */
function threads(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const prev = out.get(name) ?? [0, 0];
      out.set(name, [prev[0] + Number(f[11]) * TICK_US, prev[1] + Number(f[12]) * TICK_US]);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
const diff = (a, b) => new Map([...b].map(([k, [u, s]]) => [k, [u - (a.get(k)?.[0] ?? 0), s - (a.get(k)?.[1] ?? 0)]]));

const server = await FxServer.start('postgres+redis');
const ep = await FxEndpoint.configure(server, 'seq-threads');
ep.start();
const client = new Client({ url: server.url, token: server.adminToken });
try {
  const fn = await client.registerFunction(() => null, { name: 'noop' });
  for (let i = 0; i < 200; i++) await client.getResult(await client.run(fn, ep.endpointId, []));
  const pids = { server: server.pid, agent: ep.pid };
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, threads(pid)]));
  const strace = process.env.STRACE ? spawn('strace', ['-c', '-f', '-p', String(server.pid)], { stdio: ['ignore', 'ignore', 'pipe'] }) : null;
  let counts = '';
  strace?.stderr.on('data', (d) => (counts += d));
  if (strace) await sleep(1000);
  const t0 = performance.now();
  for (let i = 0; i < seq; i++) await client.getResult(await client.run(fn, ep.endpointId, []));
  const wallUs = ((performance.now() - t0) * 1000) / seq;
  if (strace) {
    strace.kill('SIGINT');
    await new Promise((r) => strace.on('exit', r));
    console.log(counts);
  }
  console.log(`${seq} round trips, ${(wallUs / 1000).toFixed(2)} ms each; CPU per round trip, µs (user / system):`);
  for (const [k, pid] of Object.entries(pids)) {
    for (const [name, [u, s]] of diff(before[k], threads(pid))) {
      if (u + s > 0) console.log(`  ${k.padEnd(7)} ${name.padEnd(18)} ${(u / seq).toFixed(0).padStart(6)} / ${(s / seq).toFixed(0).padStart(6)}`);
    }
  }
} finally {
  client.close();
  await stopAll();
}
