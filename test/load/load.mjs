#!/usr/bin/env node
// Load (issue 5): one server process holds 1,000 endpoint connections — simulated agents speaking the
// real protocol, in this process — and 100 SDK clients waiting on results, while tasks flow. Checks
// that every heartbeat is handled on time and reports the server's memory (RSS).
//
//   npm run test:load            (builds first; needs PostgreSQL and Redis like npm test)
//   FX_LOAD_AGENTS=2000 FX_LOAD_SECONDS=60 npm run test:load
//
// Exit code 0 when every check holds. The server runs on real PostgreSQL + Redis with a fresh database
// and key prefix, and is stopped and cleaned up at the end.
import { readFile } from 'node:fs/promises';
import WebSocket from 'ws';
import { Client } from '@fx/sdk';
import { ENDPOINT_PROTOCOL_VERSION } from '@fx/protocol';
import { ServerProcess } from '@fx/testing';

const AGENTS = Number(process.env.FX_LOAD_AGENTS ?? 1000);
const CLIENTS = Number(process.env.FX_LOAD_CLIENTS ?? 100);
const SECONDS = Number(process.env.FX_LOAD_SECONDS ?? 30);
const TASKS_PER_CLIENT = Number(process.env.FX_LOAD_TASKS_PER_CLIENT ?? 50);
const HEARTBEAT_MS = 2000;
const TIMEOUT_MS = 10_000;
const pct = (xs, p) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] : 0);

async function rss(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) * 1024;
}
const mib = (b) => `${(b / 1024 / 1024).toFixed(0)} MiB`;

const server = await ServerProcess.start(
  'postgres+redis',
  {
    FX_RATE_LIMIT_PER_SECOND: '0',
    // every simulated agent and client here belongs to the admin user: lift the per-user socket cap
    FX_MAX_SOCKETS_PER_USER: String(AGENTS + CLIENTS + 100),
    FX_MAX_ENDPOINTS_PER_USER: String(AGENTS + 100),
    FX_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS),
    FX_HEARTBEAT_TIMEOUT_MS: String(TIMEOUT_MS),
  },
  { dirLabel: 'fx-load' },
);
const url = server.url;

const sockets = [];
const clients = [];
let failed = false;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failed = true;
};

try {
  const admin = server.adminToken;
  const api = async (method, path, body) => {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: body && JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const baseline = await rss(server.pid);

  // 1,000 endpoints, registered 50 at a time
  const t0 = Date.now();
  const endpoints = [];
  for (let i = 0; i < AGENTS; i += 50) {
    endpoints.push(...(await Promise.all(Array.from({ length: Math.min(50, AGENTS - i) }, (_, j) => api('POST', '/v1/endpoints', { name: `load-${i + j}` })))));
  }
  console.log(`registered ${AGENTS} endpoints in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // the simulated agents: hello, credits, heartbeats every interval, echo every task back as its result
  const stats = { welcomed: 0, closed: 0, tasks: 0, pingGaps: [], heartbeatsSent: 0 };
  const hello = JSON.stringify({
    v: 1,
    type: 'hello',
    payload: {
      protocolVersion: ENDPOINT_PROTOCOL_VERSION,
      agent: { name: 'sim', version: 'load', hostname: 'load', pid: process.pid, platform: 'sim', provider: 'sim', workers: 4 },
      inFlight: [],
    },
  });
  const connectAgent = (ep) =>
    new Promise((resolveWelcome, reject) => {
      const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/ws/endpoint`, { headers: { authorization: `Bearer ${ep.token}` } });
      const agent = { ws, lastPing: 0, timer: undefined };
      sockets.push(agent);
      ws.on('open', () => ws.send(hello));
      ws.on('ping', () => {
        const now = Date.now();
        if (agent.lastPing) stats.pingGaps.push(now - agent.lastPing);
        agent.lastPing = now;
      });
      ws.on('message', (d) => {
        const f = JSON.parse(d.toString());
        if (f.type === 'welcome') {
          stats.welcomed++;
          ws.send(JSON.stringify({ v: 1, type: 'credits', payload: { credits: 20 } }));
          // spread the heartbeats over the interval, as independent agents would be
          setTimeout(() => {
            agent.timer = setInterval(() => {
              stats.heartbeatsSent++;
              ws.send(
                JSON.stringify({
                  v: 1,
                  type: 'heartbeat',
                  payload: { state: 'RUNNING', workers: { total: 4, busy: 0, idle: 4 }, queued: 0, running: 0, spooled: 0, provider: 'sim' },
                }),
              );
            }, HEARTBEAT_MS);
          }, Math.random() * HEARTBEAT_MS);
          resolveWelcome();
        } else if (f.type === 'tasks') {
          stats.tasks += f.payload.tasks.length;
          const now = Date.now();
          const results = f.payload.tasks.map((t) => ({
            taskId: t.taskId,
            attempt: t.attempt,
            status: 'success',
            result: t.args,
            timings: { startedAt: now, finishedAt: now },
          }));
          ws.send(JSON.stringify({ v: 1, type: 'results', payload: { results } }));
          ws.send(JSON.stringify({ v: 1, type: 'credits', payload: { credits: f.payload.tasks.length } }));
        } else if (f.type === 'error') {
          console.error(`agent ${ep.endpoint.id}: ${f.payload.code} ${f.payload.message}`);
        }
      });
      ws.on('close', () => {
        stats.closed++;
        clearInterval(agent.timer);
      });
      ws.on('error', reject);
    });
  const t1 = Date.now();
  for (let i = 0; i < endpoints.length; i += 100) await Promise.all(endpoints.slice(i, i + 100).map(connectAgent));
  const connectSeconds = (Date.now() - t1) / 1000;
  console.log(`${stats.welcomed} agents connected and welcomed in ${connectSeconds.toFixed(1)} s`);

  // 100 SDK clients, each with its own result socket, waiting on tasks spread over the endpoints
  const fnId = (await api('POST', '/v1/functions', { name: 'echo', runtime: 'js', source: '(x) => x' })).id;
  for (let i = 0; i < CLIENTS; i++) clients.push(new Client({ url, token: admin }));
  const latencies = [];
  let resultsSeen = 0;
  const rounds = [];
  const loadEnd = Date.now() + SECONDS * 1000;
  const rssSamples = [];
  const staleness = [];
  const sampler = setInterval(
    () =>
      void rss(server.pid)
        .then((r) => rssSamples.push(r))
        .catch(() => {}),
    1000,
  );
  const heartbeatCheck = async () => {
    // how old is the newest heartbeat the server has recorded for each endpoint?
    const res = await api('GET', '/v1/console/endpoints');
    const now = Date.now();
    for (const e of res.items) if (e.lastHeartbeatAt) staleness.push(now - Date.parse(e.lastHeartbeatAt));
    return res.items.filter((e) => e.state === 'online').length;
  };
  let minOnline = Infinity;
  const hbTimer = setInterval(
    () =>
      void heartbeatCheck()
        .then((n) => (minOnline = Math.min(minOnline, n)))
        .catch((e) => console.error(e.message)),
    3000,
  );
  for (const [c, client] of clients.entries()) {
    rounds.push(
      (async () => {
        while (Date.now() < loadEnd) {
          const ep = endpoints[Math.floor(Math.random() * endpoints.length)].endpoint.id;
          const start = Date.now();
          const ids = await client.runBatch(
            ep,
            Array.from({ length: TASKS_PER_CLIENT }, (_, i) => ({ functionId: fnId, args: [c, i] })),
          );
          const values = await client.getResults(ids, { timeoutMs: 60_000 });
          latencies.push(Date.now() - start);
          resultsSeen += values.length;
          if (values.some((v, i) => v[0] !== c || v[1] !== i)) throw new Error('a wrong result');
        }
      })(),
    );
  }
  await Promise.all(rounds);
  clearInterval(sampler);
  clearInterval(hbTimer);
  await heartbeatCheck().then((n) => (minOnline = Math.min(minOnline, n)));
  const peak = Math.max(...rssSamples, await rss(server.pid));

  const gaps = stats.pingGaps;
  const lateness = gaps.map((g) => Math.max(0, g - HEARTBEAT_MS));
  console.log('');
  console.log(`load: ${AGENTS} endpoint connections, ${CLIENTS} SDK clients, ${SECONDS} s, heartbeat interval ${HEARTBEAT_MS} ms (timeout ${TIMEOUT_MS} ms)`);
  console.log(
    `  tasks: ${stats.tasks} dispatched to the simulated agents, ${resultsSeen} results reached the SDK clients; batch of ${TASKS_PER_CLIENT} round trip p50 ${pct(latencies, 50)} ms, p99 ${pct(latencies, 99)} ms`,
  );
  console.log(
    `  heartbeats: ${stats.heartbeatsSent} sent; age of the newest recorded heartbeat per endpoint p50 ${pct(staleness, 50)} ms, p99 ${pct(staleness, 99)} ms, max ${Math.max(...staleness)} ms`,
  );
  // informational: the server pings only agents it has not heard from lately, so gaps can be long
  console.log(
    `  liveness pings from the server: ${gaps.length} gaps, lateness p50 ${pct(lateness, 50)} ms, p99 ${pct(lateness, 99)} ms, max ${Math.max(0, ...lateness)} ms`,
  );
  console.log(`  endpoints online (min over samples): ${minOnline}/${AGENTS}; connections dropped by the server: ${stats.closed}`);
  console.log(
    `  server RSS: ${mib(baseline)} idle → ${mib(peak)} peak (${((peak - baseline) / AGENTS / 1024).toFixed(0)} KiB per connection incl. clients and tasks)`,
  );
  console.log('');
  check(stats.welcomed === AGENTS, `all ${AGENTS} agents welcomed`);
  check(stats.closed === 0, 'no agent connection dropped');
  check(minOnline === AGENTS, 'every endpoint stayed online (a heartbeat recorded within the timeout) at every sample');
  // on time = recorded well before the server's own deadline (FX_HEARTBEAT_TIMEOUT_MS), under full load
  check(
    Math.max(...staleness) < TIMEOUT_MS * 0.75,
    `every endpoint's newest recorded heartbeat stayed well inside the timeout (max age < ${TIMEOUT_MS * 0.75} ms)`,
  );
  check(resultsSeen === latencies.length * TASKS_PER_CLIENT && resultsSeen > 0, 'every submitted task came back to its SDK client');
} catch (e) {
  console.error(e);
  console.error(server.log(4000));
  failed = true;
} finally {
  for (const c of clients) c.close();
  for (const s of sockets) s.ws.terminate();
  await server.stop();
}
console.log(failed ? 'load: FAILED' : 'load: passed');
process.exit(failed ? 1 : 0);
