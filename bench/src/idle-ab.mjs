// Measuring aid, not part of `npm run bench`: the bench's `idle` workload (fxIdleConnections) with the idle
// heartbeat cadence (the server's default FX_IDLE_HEARTBEAT_INTERVAL_MS) against the same build with it
// switched off (FX_IDLE_HEARTBEAT_INTERVAL_MS equal to FX_HEARTBEAT_INTERVAL_MS: every connection keeps the
// 5 s cadence, as before issue 18's idle cadence), alternated; server CPU from /proc, frames counted by the
// simulated agents, load average at each run's start.
//   N=1000 [WINDOW_S=60] [ROUNDS=2] node bench/src/idle-ab.mjs
import { loadavg } from 'node:os';
import { fxIdleConnections } from './scale.mjs';

const n = Number(process.env.N ?? 1000);
const windowS = Number(process.env.WINDOW_S ?? 60);
const rounds = Number(process.env.ROUNDS ?? 2);
const variants = { idle: {}, off: { FX_IDLE_HEARTBEAT_INTERVAL_MS: '5000' } };
for (let round = 1; round <= rounds; round++) {
  for (const [name, serverEnv] of Object.entries(variants)) {
    const load = loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
    const r = await fxIdleConnections('postgres+redis', n, windowS, { probe: { serverEnv, start() {}, stop() {} } });
    console.log(
      `${name} #${round} (load ${load}): server CPU ${r.serverCpuPercent.toFixed(2)} % with ${r.connections} idle connections ` +
        `(baseline ${r.baselineCpuPercent.toFixed(2)} %), ${r.framesPerS.toFixed(1)} frames/s, ` +
        `PostgreSQL ${r.pgTransactionsPerS.toFixed(1)} transactions/s, idle interval ${r.idleHeartbeatIntervalMs} ms`,
    );
  }
}
