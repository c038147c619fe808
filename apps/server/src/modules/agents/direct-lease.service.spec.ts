import { jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { BACKENDS, rest, startTestServer, type TestServer } from '../../testing/test-server.js';
import { ProtocolPeer } from '../../testing/protocol-peer.js';
import { BROKER } from '../../storage/storage.module.js';
import type { Broker } from '../../storage/broker.js';
import { LeaseService } from '../leases/lease.service.js';
import { TasksRepository, type TaskRow } from '../tasks/tasks.repository.js';
import { RecoveryService } from '../recovery/recovery.service.js';
import { ConnectionRegistry } from './connection-registry.service.js';
import type { EndpointConnection } from './endpoint-connection.js';

/**
 * The lease in the submission's insert, on both stores, with a bare protocol peer as the agent: a task
 * for an idle agent with credits goes in dispatched and leased to its connection, with the columns a
 * granted lease has, and is sent without the broker (no enqueue, no claim); what is more than the
 * credits is queued as before; and a lease whose frame never reached an agent, or whose agent died, is
 * requeued by the lease sweep with attempt + 1. The recovery sweep is held off: the tests call its
 * lease step (LeaseService.requeueExpired) themselves.
 */
jest.setTimeout(60_000);

const LEASE_MS = 2_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(BACKENDS)('DirectLeaseService (%s)', (backend) => {
  let server: TestServer;
  let admin: ReturnType<typeof rest>;
  let broker: Broker;
  let tasks: TasksRepository;
  let leases: LeaseService;
  let connections: ConnectionRegistry;
  let fnId: string;
  let epId: string;
  let token: string;
  let peer: ProtocolPeer;
  let conn: EndpointConnection;

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: String(LEASE_MS), FX_SWEEP_INTERVAL_MS: '3600000' });
    admin = rest(server.url, server.adminToken);
    broker = server.app.get(BROKER);
    tasks = server.app.get(TasksRepository);
    leases = server.app.get(LeaseService);
    connections = server.app.get(ConnectionRegistry);
    fnId = (await admin('POST', '/v1/functions', { name: 'inc', runtime: 'js', source: '(x) => x + 1' })).body.id;
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  beforeEach(async () => {
    const ep = (await admin('POST', '/v1/endpoints', { name: `ep-${randomUUID().slice(0, 8)}` })).body;
    epId = ep.endpoint.id;
    token = ep.token;
    peer = await ProtocolPeer.connect(server.url, token);
    peer.hello();
    await peer.next('welcome');
    conn = connections.current(epId)!;
  });

  afterEach(() => {
    jest.restoreAllMocks();
    peer.kill();
  });

  const until = async (what: () => Promise<boolean>) => {
    for (let i = 0; i < 500 && !(await what()); i++) await sleep(20);
  };
  /** Grants credits and waits for the claim that finds the queue empty, and for the dispatcher to be done. */
  const idle = async (credits: number) => {
    peer.send('credits', { credits });
    await until(async () => conn.credits === credits && conn.emptyAt === conn.queueSeq && !conn.dispatching);
    expect(conn).toMatchObject({ credits, emptyAt: conn.queueSeq, dispatching: false });
  };
  const submit = async (args: unknown[] = [1]) => {
    const r = await admin('POST', '/v1/tasks', { functionId: fnId, endpointId: epId, args });
    expect(r.status).toBe(201);
    return r.body.taskId as string;
  };
  const row = async (id: string) => (await tasks.findById(id)) as TaskRow & { lease_expires_at: Date | null };
  const status = async (id: string) => (await admin('GET', `/v1/tasks/${id}`)).body as { status: string; attempt: number };
  const brokerCalls = () => {
    const enqueue = jest.spyOn(broker, 'enqueue');
    const claim = jest.spyOn(broker, 'claim');
    return {
      enqueued: () => enqueue.mock.calls.filter(([ep]) => ep === epId).flatMap(([, t]) => t.map((e) => (typeof e === 'string' ? e : e.id))),
      claims: () => claim.mock.calls.filter(([ep]) => ep === epId).length,
    };
  };

  it('leases a task for an idle agent with credits in its insert: committed dispatched with its lease, sent, never queued nor claimed', async () => {
    await idle(5);
    const calls = brokerCalls();
    const id = await submit([41]);
    // as the id is answered: the columns LeasesRepository.grant sets
    const r = await row(id);
    expect(r).toMatchObject({ status: 'dispatched', attempt: 0, lease_owner: conn.id });
    expect(r.dispatched_at).not.toBeNull();
    expect(r.lease_expires_at!.getTime() - r.dispatched_at!.getTime()).toBe(LEASE_MS);
    const [sent] = await peer.tasks(1);
    expect(sent).toMatchObject({ taskId: id, attempt: 0, functionId: fnId, args: [41], ownerId: expect.any(String) });
    expect(conn.credits).toBe(4);
    // nor by a rebuild of the queues from PostgreSQL (invariant 5: a leased task is not queued)
    await server.app.get(RecoveryService).rebuild();
    expect(calls.enqueued()).toEqual([]);
    expect(calls.claims()).toBe(0);
    peer.send('results', { results: [{ taskId: id, attempt: 0, status: 'success', result: 42, timings: {} }] });
    await until(async () => (await status(id)).status === 'success');
    expect(await status(id)).toMatchObject({ status: 'success', attempt: 0 });
  });

  it('queues a batch larger than the credits whole, in the queue’s order, then leases in the insert again once the queue ran dry', async () => {
    await idle(2);
    const calls = brokerCalls();
    const r = await admin('POST', '/v1/tasks/batch', {
      endpointId: epId,
      tasks: [1, 9, 5].map((priority) => ({ functionId: fnId, args: [priority], priority })),
    });
    expect(r.status).toBe(201);
    const ids = r.body.taskIds as string[];
    expect(calls.enqueued().sort()).toEqual([...ids].sort());
    // the highest priorities first, as the queue orders them
    expect((await peer.tasks(2)).map((t) => t.args)).toEqual([[9], [5]]);
    peer.send('credits', { credits: 2 });
    expect((await peer.tasks(1)).map((t) => t.args)).toEqual([[1]]);
    // the claim behind it found the queue empty, with a credit left: the next task is leased in its insert
    await until(async () => conn.emptyAt === conn.queueSeq && !conn.dispatching);
    expect(conn.credits).toBe(1);
    const next = await submit([7]);
    expect((await row(next)).status).toBe('dispatched');
    expect((await peer.tasks(1)).map((t) => t.taskId)).toEqual([next]);
    expect(calls.enqueued()).not.toContain(next);
  });

  it('never spends a credit twice: concurrent submissions past the credits are queued and wait for more', async () => {
    await idle(2);
    const calls = brokerCalls();
    const ids = await Promise.all([submit([1]), submit([2]), submit([3])]);
    expect(conn.credits).toBe(0);
    const sent = await peer.tasks(2);
    const queued = calls.enqueued();
    expect(queued).toHaveLength(1);
    expect([...sent.map((t) => t.taskId), ...queued].sort()).toEqual([...ids].sort());
    await sleep(200);
    expect(peer.frames.filter((f) => f.type === 'tasks')).toEqual([]);
    peer.send('credits', { credits: 1 });
    expect((await peer.tasks(1)).map((t) => t.taskId)).toEqual(queued);
  });

  it('an agent killed after the lease: the lease sweep requeues its task with attempt + 1, and the next agent gets it', async () => {
    await idle(5);
    const id = await submit();
    await peer.tasks(1);
    peer.kill();
    await until(async () => connections.current(epId) !== conn);
    await sleep(LEASE_MS + 250);
    expect((await leases.requeueExpired()).requeued.map((t) => t.id)).toContain(id);
    expect(await status(id)).toMatchObject({ status: 'waiting-for-endpoint', attempt: 1 });
    peer = await ProtocolPeer.connect(server.url, token);
    peer.hello();
    await peer.next('welcome');
    peer.send('credits', { credits: 5 });
    expect((await peer.tasks(1)).map((t) => [t.taskId, t.attempt])).toEqual([[id, 1]]);
  });

  it('a connection closed between the lease and its frame: nothing is sent, and the lease sweep requeues the task', async () => {
    await idle(5);
    const insert = tasks.insertSubmission.bind(tasks);
    jest.spyOn(tasks, 'insertSubmission').mockImplementationOnce(async (...args) => {
      const out = await insert(...args);
      conn.ws.terminate();
      return out;
    });
    const id = await submit();
    expect(await row(id)).toMatchObject({ status: 'dispatched', lease_owner: conn.id });
    await peer.waitClosed();
    expect(peer.frames.filter((f) => f.type === 'tasks')).toEqual([]);
    await sleep(LEASE_MS + 250);
    expect((await leases.requeueExpired()).requeued.map((t) => t.id)).toContain(id);
    expect(await status(id)).toMatchObject({ status: 'waiting-for-endpoint', attempt: 1 });
  });
});
