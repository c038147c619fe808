// Profiling aid, not part of `npm run bench`: the statements one sequential round trip (`client.run` +
// `client.getResult` of a no-op task, PostgreSQL + Redis) sends to PostgreSQL, from the PostgreSQL log
// (pg-log.mjs; reading the log takes the rights of its owner). Counts, not times: they do not move with
// the machine's load. The background sweeps' statements are in the total (a few per run, not per task).
//   [SEQ=200] [PG_LOG=/var/log/postgresql/postgresql-15-main.log] node bench/src/seq-statements.mjs
import { loadavg } from 'node:os';
import { Client } from '@fx/sdk';
import { FxEndpoint, FxServer, stopAll } from './procs.mjs';
import { LOG_EVERY_STATEMENT, statementLog } from './pg-log.mjs';

const seq = Number(process.env.SEQ ?? 200);
const logFile = process.env.PG_LOG ?? '/var/log/postgresql/postgresql-15-main.log';

const server = await FxServer.start('postgres+redis', { env: LOG_EVERY_STATEMENT });
try {
  const endpoint = await FxEndpoint.configure(server, 'bench');
  endpoint.start();
  const client = new Client({ url: server.url, token: server.adminToken });
  const fn = await client.registerFunction(() => null, { name: 'noop' });
  const roundTrip = async () => client.getResult(await client.run(fn, endpoint.endpointId, []), { timeoutMs: 60_000 });
  for (let i = 0; i < 20; i++) await roundTrip(); // warm-up: the agent connected, the first plans made
  const load = loadavg()[0].toFixed(1);
  const log = statementLog(logFile, new URL(server.env.DATABASE_URL).pathname.slice(1));
  for (let i = 0; i < seq; i++) await roundTrip();
  await new Promise((r) => setTimeout(r, 500)); // what the last round trip sends after its result
  const rows = [...log.counts()].sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((a, r) => a + r[1], 0);
  console.log(`${seq} sequential round trips (load ${load}): ${(total / seq).toFixed(2)} statements per round trip`);
  for (const [q, c] of rows.slice(0, 20)) console.log(`${(c / seq).toFixed(2).padStart(6)}  ${q.replace(/\s+/g, ' ').slice(0, 140)}`);
  client.close();
} finally {
  await stopAll();
}
