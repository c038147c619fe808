import { jest } from '@jest/globals';
import { eventually } from '@fx/testing';
import { ProtocolPeer } from '../../testing/protocol-peer.js';
import { rest, startTestServer, type TestServer } from '../../testing/test-server.js';
import { BROKER } from '../../storage/storage.module.js';
import type { Broker } from '../../storage/broker.js';

/**
 * Work stealing between members of an endpoint group, on a real server with two connected protocol
 * peers: member A holds a backlog it grants no credits for, member B (restricted to one function)
 * grants credits and takes A's waiting tasks of that function, up to its idle workers; A's queue keeps
 * stale entries of the stolen tasks, which its next claim skips and settles, so no task is leased twice.
 */
jest.setTimeout(120_000);

const heartbeat = (total: number) => ({ state: 'RUNNING', workers: { total, busy: 0, idle: total }, queued: 0, running: 0, spooled: 0, provider: 'local' });

describe.each(['postgres+redis', 'embedded'] as const)('work stealing in endpoint groups (%s)', (backend) => {
  let server: TestServer;
  let admin: ReturnType<typeof rest>;
  const peers: ProtocolPeer[] = [];

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_RATE_LIMIT_PER_SECOND: '0' });
    admin = rest(server.url, server.adminToken);
  });
  afterAll(async () => {
    for (const p of peers) p.ws.close();
    await server?.stop();
  });

  async function connect(token: string, workers: number): Promise<ProtocolPeer> {
    const p = await ProtocolPeer.connect(server.url, token);
    peers.push(p);
    p.hello();
    await p.next('welcome');
    p.send('heartbeat', heartbeat(workers));
    return p;
  }

  it("an idle member takes a busy member's waiting tasks, only those it may run, none twice", async () => {
    const allowed = (await admin('POST', '/v1/functions', { name: 'steal-ok', runtime: 'js', source: '(x) => x' })).body.id;
    const other = (await admin('POST', '/v1/functions', { name: 'steal-not', runtime: 'js', source: '(x) => -x' })).body.id;
    const a = (await admin('POST', '/v1/endpoints', { name: 'steal-a' })).body;
    const b = (await admin('POST', '/v1/endpoints', { name: 'steal-b', allowedFunctions: [allowed] })).body;
    const [aId, bId] = [a.endpoint.id as string, b.endpoint.id as string];
    expect((await admin('POST', '/v1/endpoint-groups', { name: 'steal-pool', members: [aId, bId] })).status).toBe(201);
    // A is online and grants nothing (a slow agent, busy with earlier work); B is not connected yet
    const peerA = await connect(a.token, 1);
    const batch = await admin('POST', '/v1/tasks/batch', {
      endpointId: 'steal-pool',
      tasks: [
        ...Array.from({ length: 6 }, (_, i) => ({ functionId: allowed, args: [i], priority: i === 5 ? 9 : 5 })),
        ...Array.from({ length: 3 }, (_, i) => ({ functionId: other, args: [i] })),
      ],
    });
    expect(batch.status).toBe(201);
    const ids: string[] = batch.body.taskIds;
    const [mayRun, mayNot] = [ids.slice(0, 6), ids.slice(6)];
    const task = async (id: string) => (await admin('GET', `/v1/tasks/${id}`)).body;
    for (const id of ids) expect(await task(id)).toMatchObject({ endpointId: aId, status: 'waiting-for-endpoint' });

    // B: 4 workers, 100 credits (its prefetch); it takes as many as it has idle workers, the highest priority first
    const peerB = await connect(b.token, 4);
    await eventually(async () => (await admin('GET', `/v1/endpoints/${bId}`)).body.status?.workers?.total === 4, 10_000, "B's heartbeat stored");
    peerB.send('credits', { credits: 100 });
    const first = await peerB.tasks(4);
    expect(first.map((t) => t.functionId)).toEqual([allowed, allowed, allowed, allowed]);
    expect(first[0]!.taskId).toBe(mayRun[5]);
    // its workers all busy: nothing more until one of them is free
    peerB.send('results', { results: first.slice(0, 2).map((t) => ({ taskId: t.taskId, attempt: 0, status: 'success' as const, result: 1, timings: {} })) });
    await peerB.next('ack');
    peerB.send('credits', { credits: 2 });
    const second = await peerB.tasks(2);
    const stolen = [...first, ...second].map((t) => t.taskId);
    expect(new Set(stolen)).toEqual(new Set(mayRun));
    for (const id of mayRun) expect((await task(id)).endpointId).toBe(bId);
    // the function B may not run stays on A, waiting
    for (const id of mayNot) expect(await task(id)).toMatchObject({ endpointId: aId, status: 'waiting-for-endpoint' });

    // A grants credits: its queue still lists the stolen tasks, but only its own three are leased to it
    peerA.send('credits', { credits: 50 });
    const onA = await peerA.tasks(3);
    expect(new Set(onA.map((t) => t.taskId))).toEqual(new Set(mayNot));
    const broker = server.app.get<Broker>(BROKER);
    await eventually(async () => (await broker.depth(aId)) === 0, 10_000, "A's queue drained of the stale entries");
    expect(peerA.frames.filter((f) => f.type === 'tasks')).toEqual([]);
    expect(peerB.frames.filter((f) => f.type === 'tasks')).toEqual([]);
    for (const id of ids) expect((await task(id)).attempt).toBe(0);
  });
});
