// Profiling aid, not part of `npm run bench`: what an idle server asks of PostgreSQL, with no connection and with
// N idle endpoint connections (the bench's `idle` workload): statements per minute, by statement, from the
// PostgreSQL log (the server's sessions log every statement, PGOPTIONS=-c log_min_duration_statement=0; reading
// the log takes the rights of its owner), and the server's CPU from /proc, for fxIdleConnections' two windows.
//   N=1000 [WINDOW_S=30] [PG_LOG=/var/log/postgresql/postgresql-15-main.log] node bench/src/idle-statements.mjs
import { readFileSync } from 'node:fs';
import { fxIdleConnections } from './scale.mjs';

const windowS = Number(process.env.WINDOW_S ?? 30);
const logFile = process.env.PG_LOG ?? '/var/log/postgresql/postgresql-15-main.log';
let from = 0;
let database = '';
const probe = {
  serverEnv: { PGOPTIONS: '-c log_min_duration_statement=0' },
  start(server) {
    database = new URL(server.env.DATABASE_URL).pathname.slice(1);
    from = readFileSync(logFile).length;
  },
  stop(what, seconds) {
    const counts = new Map();
    const mark = `@${database} LOG:  duration: `;
    for (const line of readFileSync(logFile).subarray(from).toString().split('\n')) {
      const at = line.indexOf(mark);
      if (at < 0) continue;
      // the extended protocol logs a statement's parse and bind as well: its execute alone counts it
      const m = /^[\d.]+ ms\s+(?:execute [^:]*|statement): (.*)/.exec(line.slice(at + mark.length));
      if (!m) continue;
      const statement = m[1];
      counts.set(statement, (counts.get(statement) ?? 0) + 1);
    }
    const perMin = (c) => ((c / seconds) * 60).toFixed(1);
    const rows = [...counts].sort((a, b) => b[1] - a[1]);
    console.log(`${what}: ${perMin(rows.reduce((a, r) => a + r[1], 0))} statements/min`);
    for (const [q, c] of rows.slice(0, 30)) console.log(`${perMin(c).padStart(8)}/min  ${q.replace(/\s+/g, ' ').slice(0, 140)}`);
  },
};
const r = await fxIdleConnections('postgres+redis', Number(process.env.N ?? 1000), windowS, { probe });
console.log(
  `server CPU ${r.serverCpuPercent.toFixed(2)} % with ${r.connections} idle connections (baseline ${r.baselineCpuPercent.toFixed(2)} %), PostgreSQL ${r.pgTransactionsPerS.toFixed(1)} transactions/s`,
);
