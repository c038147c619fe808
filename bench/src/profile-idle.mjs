// Profiling aid, not part of `npm run bench`: a real server (PostgreSQL + Redis) with N idle endpoint
// connections that only heartbeat; after they settle, 15 s of the server's CPU profile (through the
// inspector, so start-up and registration are left out) go to /tmp/idle.cpuprofile.
//   N=1000 node bench/src/profile-idle.mjs
import WebSocket from 'ws';
import { hostname } from 'node:os';
import { writeFileSync } from 'node:fs';
import { Client } from '@fx/sdk';
import { encodeFrame, PROTOCOL_VERSION } from '@fx/protocol';
import { FxServer, cpuSeconds } from './procs.mjs';
const n = Number(process.env.N ?? 1000);
const INSPECT_PORT = 9339;
const server = await FxServer.start('postgres+redis', { nodeArgs: [`--inspect=127.0.0.1:${INSPECT_PORT}`] });
const client = new Client({ url: server.url, token: server.adminToken });
const tokens = [];
for (let i = 0; i < n; i++) tokens.push((await client.registerEndpoint({ name: `idle-${i}` })).token);
const wsUrl = `${server.url.replace('http', 'ws')}/v1/ws/endpoint`;
const hb = { state: 'RUNNING', workers: { total: 2, busy: 0, idle: 2 }, queued: 0, running: 0, spooled: 0, provider: 'local' };
const socks = await Promise.all(
  tokens.map(
    (token, i) =>
      new Promise((res) => {
        const ws = new WebSocket(wsUrl, { headers: { Authorization: `Bearer ${token}` } });
        ws.on('open', () =>
          ws.send(
            encodeFrame('hello', {
              protocolVersion: PROTOCOL_VERSION,
              agent: { name: `i${i}`, version: 'b', hostname: hostname(), pid: 1, platform: 'b', provider: 'local', workers: 2 },
              inFlight: [],
            }),
          ),
        );
        ws.on('message', (raw) => {
          const f = JSON.parse(raw.toString());
          if (f.type === 'welcome') {
            setInterval(() => ws.send(encodeFrame('heartbeat', hb)), f.payload.heartbeatIntervalMs).unref();
            res(ws);
          }
        });
      }),
  ),
);
await new Promise((r) => setTimeout(r, 12000));
const list = await (await fetch(`http://127.0.0.1:${INSPECT_PORT}/json`)).json();
const insp = new WebSocket(list[0].webSocketDebuggerUrl);
await new Promise((r) => insp.on('open', r));
let seq = 0;
const pending = new Map();
insp.on('message', (d) => {
  const m = JSON.parse(d.toString());
  pending.get(m.id)?.(m.result);
});
const call = (method, params = {}) =>
  new Promise((r) => {
    const id = ++seq;
    pending.set(id, r);
    insp.send(JSON.stringify({ id, method, params }));
  });
await call('Profiler.enable');
await call('Profiler.start');
const c0 = cpuSeconds(server.pid),
  t0 = Date.now();
await new Promise((r) => setTimeout(r, 15000));
const { profile } = await call('Profiler.stop');
console.log(`server CPU ${((100 * (cpuSeconds(server.pid) - c0)) / ((Date.now() - t0) / 1000)).toFixed(2)} % with ${socks.length} idle connections`);
writeFileSync('/tmp/idle.cpuprofile', JSON.stringify(profile));
insp.close();
for (const s of socks) s.terminate();
client.close();
await server.stop();
