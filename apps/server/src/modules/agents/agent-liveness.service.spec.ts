import { jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { ENDPOINT_PROTOCOL_VERSION, type HeartbeatPayload } from '@fx/protocol';
import { rest, startTestServer, type TestServer } from '../../testing/test-server.js';
import { ProtocolPeer } from '../../testing/protocol-peer.js';
import { LeaseService } from '../leases/lease.service.js';
import { AgentLivenessService } from './agent-liveness.service.js';
import { ConnectionRegistry } from './connection-registry.service.js';
import type { EndpointConnection } from './endpoint-connection.js';
import { IDLE_HEARTBEAT_INTERVALS } from '../../config/env.js';

/**
 * Liveness on real PostgreSQL and Redis, with a bare protocol peer as the agent: a connection not
 * heard from within FX_HEARTBEAT_TIMEOUT_MS is dropped (a quiet one is pinged first), heartbeats keep
 * the connection's leases alive, and leases no heartbeat extends expire and send their tasks back to
 * the queue. The checks are called directly, with the time they are to judge by; the recovery sweep
 * is held off so that only these calls requeue anything.
 */
jest.setTimeout(30_000);

const INTERVAL_MS = 500;
const TIMEOUT_MS = 3_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const status = (running: number): HeartbeatPayload => ({
  state: 'RUNNING',
  workers: { total: 1, busy: running, idle: 1 - running },
  queued: 0,
  running,
  spooled: 0,
  provider: 'test',
});

describe('AgentLivenessService', () => {
  let server: TestServer;
  let admin: ReturnType<typeof rest>;
  let liveness: AgentLivenessService;
  let leases: LeaseService;
  let connections: ConnectionRegistry;
  let fnId: string;
  let epId: string;
  let peer: ProtocolPeer;
  let conn: EndpointConnection;

  beforeAll(async () => {
    server = await startTestServer('postgres+redis', {
      FX_HEARTBEAT_INTERVAL_MS: String(INTERVAL_MS),
      FX_HEARTBEAT_TIMEOUT_MS: String(TIMEOUT_MS),
      FX_SWEEP_INTERVAL_MS: '3600000',
    });
    admin = rest(server.url, server.adminToken);
    liveness = server.app.get(AgentLivenessService);
    leases = server.app.get(LeaseService);
    connections = server.app.get(ConnectionRegistry);
    fnId = (await admin('POST', '/v1/functions', { name: 'inc', runtime: 'js', source: '(x) => x + 1' })).body.id;
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  beforeEach(async () => {
    const ep = (await admin('POST', '/v1/endpoints', { name: `ep-${randomUUID().slice(0, 8)}` })).body;
    epId = ep.endpoint.id;
    peer = await ProtocolPeer.connect(server.url, ep.token);
    peer.hello();
    await peer.next('welcome');
    conn = connections.current(epId)!;
    expect(conn).toBeDefined();
  });

  afterEach(() => peer.kill());

  const endpoint = async () => (await admin('GET', `/v1/endpoints/${epId}`)).body as { state: string; status: HeartbeatPayload | null };
  const task = async (id: string) => (await admin('GET', `/v1/tasks/${id}`)).body as { status: string; attempt: number };

  it('pings a connection quiet for a heartbeat interval, and drops one not heard from within the timeout', async () => {
    // counted, not replaced: the server's own check (twice an interval) runs too, but never between a
    // synchronous check() and the expect after it
    const ping = jest.spyOn(conn.ws, 'ping');
    const pinged = new Promise<void>((resolve) => peer.ws.once('ping', () => resolve()));
    liveness.check(conn.lastSeen + INTERVAL_MS / 2);
    expect(ping).not.toHaveBeenCalled();
    liveness.check(conn.lastSeen + INTERVAL_MS);
    expect(ping).toHaveBeenCalledTimes(1);
    await pinged;
    expect(peer.closed).toBeNull();
    expect(connections.current(epId)).toBe(conn);

    liveness.check(conn.lastSeen + TIMEOUT_MS + 1);
    expect((await peer.waitClosed()).code).toBe(1006);
    // the session ends with the socket: the registry lets go and the endpoint shows offline
    expect(connections.current(epId)).toBeUndefined();
    for (let i = 0; i < 50 && (await endpoint()).state !== 'offline'; i++) await sleep(100);
    expect((await endpoint()).state).toBe('offline');
  });

  it('keeps the leases of a connection that heartbeats; once its heartbeats stop, they expire and the task is requeued', async () => {
    const submitted = await admin('POST', '/v1/tasks', { functionId: fnId, endpointId: epId, args: [1] });
    expect(submitted.status).toBe(201);
    const taskId: string = submitted.body.taskId;
    peer.send('credits', { credits: 1 });
    expect((await peer.tasks(1)).map((t) => t.taskId)).toEqual([taskId]);
    const held = (lost: Awaited<ReturnType<LeaseService['requeueExpired']>>) => lost.requeued.some((r) => r.id === taskId);

    // the first heartbeat of a connection is written at once: status shown, leases extended
    await sleep(TIMEOUT_MS / 2);
    await liveness.heartbeat(conn, status(1));
    expect((await endpoint()).status).toMatchObject({ state: 'RUNNING', running: 1 });
    await sleep((TIMEOUT_MS * 3) / 4);
    // past the lease's first expiry, within the extended one
    expect(held(await leases.requeueExpired())).toBe(false);

    // later ones are gathered and written together
    await liveness.heartbeat(conn, status(0));
    await liveness.flushHeartbeats();
    expect((await endpoint()).status).toMatchObject({ running: 0 });
    await sleep((TIMEOUT_MS * 3) / 4);
    expect(held(await leases.requeueExpired())).toBe(false);
    expect(await task(taskId)).toMatchObject({ status: 'dispatched', attempt: 0 });

    // no more heartbeats: the lease runs out, and the task goes back to its queue at the next attempt
    await sleep(TIMEOUT_MS / 2);
    expect(held(await leases.requeueExpired())).toBe(true);
    expect(await task(taskId)).toMatchObject({ status: 'waiting-for-endpoint', attempt: 1 });
  });

  it('takes the pongs of a pongHeartbeats agent for heartbeats: its task keeps its lease while it pongs, and loses it once the pongs stop', async () => {
    const ep = (await admin('POST', '/v1/endpoints', { name: `pong-${randomUUID().slice(0, 8)}` })).body;
    const ponger = await ProtocolPeer.connect(server.url, ep.token);
    try {
      ponger.send('hello', {
        protocolVersion: ENDPOINT_PROTOCOL_VERSION,
        agent: { name: 'peer', version: 'test', hostname: 'test', pid: process.pid, platform: process.platform, provider: 'test', workers: 1 },
        inFlight: [],
        pongHeartbeats: true,
      });
      expect((await ponger.next('welcome')).payload.pongHeartbeats).toBe(true);
      const pc = connections.current(ep.endpoint.id)!;
      expect(pc.pongHeartbeats).toBe(true);
      const taskId: string = (await admin('POST', '/v1/tasks', { functionId: fnId, endpointId: ep.endpoint.id, args: [1] })).body.taskId;
      ponger.send('credits', { credits: 1 });
      expect((await ponger.tasks(1)).map((t) => t.taskId)).toEqual([taskId]);
      const held = (lost: Awaited<ReturnType<LeaseService['requeueExpired']>>) => lost.requeued.some((r) => r.id === taskId);

      // a frame says the agent is alive but extends no lease: a pong-heartbeat agent is pinged all the same
      const ping = jest.spyOn(pc.ws, 'ping');
      pc.lastBeat = Date.now() - INTERVAL_MS;
      liveness.heard(pc);
      liveness.check();
      expect(ping).toHaveBeenCalledTimes(1);
      ping.mockRestore();

      // one heartbeat frame with its status, then only pongs (to the server's own pings, each interval)
      await liveness.heartbeat(pc, status(1));
      const before = (await admin('GET', `/v1/endpoints/${ep.endpoint.id}`)).body as { lastHeartbeatAt: string };
      await sleep(TIMEOUT_MS * 1.5);
      // past the lease the heartbeat gave it: the pongs extended it, and refreshed the last heartbeat with the status last reported
      expect(held(await leases.requeueExpired())).toBe(false);
      const after = (await admin('GET', `/v1/endpoints/${ep.endpoint.id}`)).body as { lastHeartbeatAt: string; status: HeartbeatPayload };
      expect(Date.parse(after.lastHeartbeatAt)).toBeGreaterThan(Date.parse(before.lastHeartbeatAt) + TIMEOUT_MS);
      expect(after.status).toMatchObject({ state: 'RUNNING', running: 1 });
      // and the heartbeat's age (a metric) is the last pong's
      expect(pc.lastHeartbeat!.at).toBeGreaterThan(Date.now() - 2 * INTERVAL_MS);
      expect(await task(taskId)).toMatchObject({ status: 'dispatched', attempt: 0 });

      // the agent stops reading (hung, or cut off): no more pongs; the connection is dropped, the lease runs out
      ponger.ws.pause();
      await sleep(TIMEOUT_MS + INTERVAL_MS + 1_500);
      expect(connections.current(ep.endpoint.id)).toBeUndefined();
      expect(held(await leases.requeueExpired())).toBe(true);
      expect(await task(taskId)).toMatchObject({ status: 'waiting-for-endpoint', attempt: 1 });
    } finally {
      ponger.kill();
    }
  });

  describe('the idle cadence (no task held)', () => {
    // the defaults: IDLE_HEARTBEAT_INTERVALS normal intervals, and the timeout in the same proportion
    const IDLE_INTERVAL_MS = INTERVAL_MS * IDLE_HEARTBEAT_INTERVALS;
    const IDLE_TIMEOUT_MS = (IDLE_INTERVAL_MS * TIMEOUT_MS) / INTERVAL_MS;

    it('are the defaults, and the welcome tells the agent', async () => {
      const ep = (await admin('POST', '/v1/endpoints', { name: `idle-${randomUUID().slice(0, 8)}` })).body;
      const other = await ProtocolPeer.connect(server.url, ep.token);
      try {
        other.hello();
        expect((await other.next('welcome')).payload).toMatchObject({ idleHeartbeatIntervalMs: IDLE_INTERVAL_MS, idleHeartbeatTimeoutMs: IDLE_TIMEOUT_MS });
      } finally {
        other.kill();
      }
    });

    it('pings a connection whose agent holds no task once an idle interval, and drops it only after the idle timeout', async () => {
      // until its first heartbeat a connection may hold the tasks of its hello: the normal cadence
      expect(conn.idle).toBe(false);
      await liveness.heartbeat(conn, status(0));
      expect(conn.idle).toBe(true);
      conn.pongHeartbeats = true;
      const ping = jest.spyOn(conn.ws, 'ping');
      // heard from (its heartbeat, say) at `seen`
      const seen = Date.now();
      conn.lastSeen = seen;
      conn.lastBeat = seen;
      // neither a normal interval of silence nor 3/4 of one since its last heartbeat draws a ping now
      liveness.check(seen + INTERVAL_MS);
      liveness.check(seen + IDLE_INTERVAL_MS - 1);
      expect(ping).not.toHaveBeenCalled();
      liveness.check(seen + IDLE_INTERVAL_MS);
      expect(ping).toHaveBeenCalledTimes(1);
      // silent past the normal timeout, within the idle one: still there
      liveness.check(seen + TIMEOUT_MS + 1);
      liveness.check(seen + IDLE_TIMEOUT_MS);
      expect(peer.closed).toBeNull();
      expect(connections.current(epId)).toBe(conn);
      liveness.check(seen + IDLE_TIMEOUT_MS + 1);
      expect((await peer.waitClosed()).code).toBe(1006);
      expect(connections.current(epId)).toBeUndefined();
    });

    it('keeps the normal interval and timeout for a connection whose agent holds tasks', async () => {
      await liveness.heartbeat(conn, status(1));
      expect(conn.idle).toBe(false);
      const ping = jest.spyOn(conn.ws, 'ping');
      const seen = conn.lastSeen;
      liveness.check(seen + INTERVAL_MS);
      expect(ping).toHaveBeenCalledTimes(1);
      liveness.check(seen + TIMEOUT_MS + 1);
      expect((await peer.waitClosed()).code).toBe(1006);
    });

    it('a lease granted to a quiet idle connection brings the normal cadence back and pings it at once', async () => {
      // its credits came when it connected; a task is queued for it later, while it is quiet
      peer.send('credits', { credits: 1 });
      for (let i = 0; i < 50 && conn.credits === 0; i++) await sleep(20);
      expect(conn.credits).toBe(1);
      await liveness.heartbeat(conn, status(0));
      expect(conn.idle).toBe(true);
      // quiet past a normal interval, as the idle cadence allows
      conn.lastSeen = Date.now() - 2 * INTERVAL_MS;
      const ping = jest.spyOn(conn.ws, 'ping');
      const pinged = new Promise<void>((resolve) => peer.ws.once('ping', () => resolve()));
      const taskId: string = (await admin('POST', '/v1/tasks', { functionId: fnId, endpointId: epId, args: [1] })).body.taskId;
      expect((await peer.tasks(1)).map((t) => t.taskId)).toEqual([taskId]);
      expect(conn.idle).toBe(false);
      expect(ping).toHaveBeenCalled();
      await pinged;
    });

    it('a half-open idle connection granted a lease is dropped within the normal timeout of the grant, not at once', async () => {
      await liveness.heartbeat(conn, status(0));
      // quiet past the normal timeout, within the idle one; it answers nothing from now on
      const now = Date.now();
      conn.lastSeen = now - 2 * TIMEOUT_MS;
      peer.ws.pause();
      const ping = jest.spyOn(conn.ws, 'ping');
      liveness.granted(conn, now);
      expect(ping).toHaveBeenCalledTimes(1);
      liveness.check(now);
      liveness.check(now + TIMEOUT_MS);
      expect(conn.open).toBe(true);
      liveness.check(now + TIMEOUT_MS + 1);
      expect(conn.open).toBe(false);
    });

    it('a lease granted to an idle connection heard from lately only brings the normal cadence back', async () => {
      await liveness.heartbeat(conn, status(0));
      liveness.heard(conn);
      const ping = jest.spyOn(conn.ws, 'ping');
      liveness.granted(conn, conn.lastSeen + INTERVAL_MS - 1);
      expect(conn.idle).toBe(false);
      expect(ping).not.toHaveBeenCalled();
      liveness.check(conn.lastSeen + INTERVAL_MS);
      expect(ping).toHaveBeenCalledTimes(1);
    });
  });
});
