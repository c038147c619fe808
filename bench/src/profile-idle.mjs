// Profiling aid, not part of `npm run bench`: the bench's `idle` workload on a real server (PostgreSQL +
// Redis) with N idle endpoint connections that only heartbeat; the server's CPU profile of the measured
// window (through its inspector, so start-up and registration are left out) goes to /tmp/idle.cpuprofile.
//   N=1000 [WINDOW_S=15] node bench/src/profile-idle.mjs
import { fxIdleConnections } from './scale.mjs';
const file = '/tmp/idle.cpuprofile';
const r = await fxIdleConnections('postgres+redis', Number(process.env.N ?? 1000), Number(process.env.WINDOW_S ?? 15), { cpuProfile: file });
console.log(
  `server CPU ${r.serverCpuPercent.toFixed(2)} % with ${r.connections} idle connections (baseline ${r.baselineCpuPercent.toFixed(2)} %); profile: ${file}`,
);
