// Profiling aid, not part of `npm run bench`: what an idle server asks of PostgreSQL, with no connection and with
// N idle endpoint connections (the bench's `idle` workload): statements per minute, by statement, from the
// PostgreSQL log (the server's sessions log every statement, PGOPTIONS=-c log_min_duration_statement=0; reading
// the log takes the rights of its owner), and the server's CPU from /proc, for fxIdleConnections' two windows.
//   N=1000 [WINDOW_S=30] [PG_LOG=/var/log/postgresql/postgresql-15-main.log] node bench/src/idle-statements.mjs
import { fxIdleConnections } from './scale.mjs';
import { LOG_EVERY_STATEMENT, statementLog } from './pg-log.mjs';

const windowS = Number(process.env.WINDOW_S ?? 30);
const logFile = process.env.PG_LOG ?? '/var/log/postgresql/postgresql-15-main.log';
let log;
const probe = {
  serverEnv: LOG_EVERY_STATEMENT,
  start(server) {
    log = statementLog(logFile, new URL(server.env.DATABASE_URL).pathname.slice(1));
  },
  stop(what, seconds) {
    const counts = log.counts();
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
