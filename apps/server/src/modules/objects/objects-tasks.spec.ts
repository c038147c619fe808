import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { eventually, sleep } from '@fx/testing';
import { encodeFrame, parseFrame, ServerToClientSchemas, type ClientToServer, type ObjectRef, type TaskOutcome } from '@fx/protocol';
import { startTestServer, rest, type TestServer } from '../../testing/test-server.js';
import { ProtocolPeer } from '../../testing/protocol-peer.js';
import { objectsClient, sha256 } from '../../testing/objects-client.js';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';

/**
 * Objects as tasks use them, on a real server with a bare protocol peer acting as the agent: references
 * in arguments checked and completed at submit, an endpoint token reading only what its leased tasks
 * refer to (or its owner owns), a result stored by the agent and reported as `resultRef` in every
 * outcome view, and a dependent task receiving its input's reference.
 */
jest.setTimeout(120_000);

interface Actor {
  id: string;
  token: string;
  api: ReturnType<typeof rest>;
  objects: ReturnType<typeof objectsClient>;
}

let server: TestServer;
let db: Database;
let alice: Actor;
let bob: Actor;
let admin: Actor;

async function actor(name: string): Promise<Actor> {
  const root = rest(server.url, server.adminToken);
  const u = await root('POST', '/v1/users', { name });
  const token = (await root('POST', `/v1/users/${u.body.id}/tokens`, { name: 'main' })).body.token as string;
  return { id: u.body.id, token, api: rest(server.url, token), objects: objectsClient(server.url, token) };
}

/** An endpoint of this actor, a function, and a peer connected as its agent (no credits yet). */
async function agentOf(a: Actor, name: string) {
  const ep = (await a.api('POST', '/v1/endpoints', { name })).body;
  const fn = (await a.api('POST', '/v1/functions', { name: `f-${name}`, runtime: 'js', source: `(x) => x /* ${name} */` })).body.id as string;
  const peer = await ProtocolPeer.connect(server.url, ep.token);
  peer.hello();
  await peer.next('welcome');
  return { endpointId: ep.endpoint.id as string, token: ep.token as string, fn, peer, objects: objectsClient(server.url, ep.token) };
}

/** A client-channel socket subscribed to these tasks; collects the outcomes pushed to it. */
async function subscribe(token: string, taskIds: string[]) {
  const ws = new WebSocket(server.url.replace(/^http/, 'ws') + '/v1/ws/client', { headers: { authorization: `Bearer ${token}` } });
  const outcomes: TaskOutcome[] = [];
  ws.on('message', (d) => {
    const f = parseFrame(ServerToClientSchemas, d as Buffer);
    if (f.type === 'result') outcomes.push(...f.payload.results);
  });
  await new Promise((r) => ws.once('open', r));
  ws.send(encodeFrame<ClientToServer, 'subscribe'>('subscribe', { taskIds }));
  return { outcomes, close: () => ws.close() };
}

beforeAll(async () => {
  server = await startTestServer('postgres+redis', { FX_RATE_LIMIT_PER_SECOND: '0', FX_MAX_REFS_PER_TASK: '3', FX_OBJECT_GC_INTERVAL_MS: '3600000' });
  db = server.app.get(DATABASE);
  alice = await actor('alice');
  bob = await actor('bob');
  const me = (await rest(server.url, server.adminToken)('GET', '/v1/whoami')).body;
  admin = { id: me.user.id, token: server.adminToken, api: rest(server.url, server.adminToken), objects: objectsClient(server.url, server.adminToken) };
});
afterAll(async () => {
  await server?.stop();
});

describe('object references in task arguments', () => {
  it('are completed from the row at submit, checked readable, and bounded', async () => {
    const a = await agentOf(alice, 'refs');
    const bytes = randomBytes(2048);
    const o = (await alice.objects.put(bytes)).body;
    const sub = await alice.api('POST', '/v1/tasks', {
      functionId: a.fn,
      endpointId: a.endpointId,
      args: [{ $fx: 'object', id: o.id }],
      kwargs: { k: [{ $fx: 'object', id: o.id }] },
    });
    expect(sub.status).toBe(201);
    a.peer.send('credits', { credits: 1 });
    const [task] = await a.peer.tasks(1);
    const ref: ObjectRef = { $fx: 'object', id: o.id, sha256: sha256(bytes), size: 2048, encoding: 'bytes' };
    expect(task!.args).toEqual([ref]);
    expect(task!.kwargs).toEqual({ k: [ref] });
    expect(task!.objects).toEqual([ref]);
    expect((await alice.api('GET', `/v1/tasks/${sub.body.taskId}`)).body.args).toEqual([ref]);

    // bob's object is not alice's to pass: 404, naming where it is
    const theirs = (await bob.objects.put(Buffer.from('bob'))).body;
    const refused = await alice.api('POST', '/v1/tasks/batch', {
      endpointId: a.endpointId,
      tasks: [
        { functionId: a.fn, args: [1] },
        { functionId: a.fn, kwargs: { deep: { list: [0, { $fx: 'object', id: theirs.id }] } } },
      ],
    });
    expect(refused.status).toBe(404);
    expect(refused.body.message).toContain(`tasks[1].kwargs.deep.list[1] refers to object ${theirs.id}`);
    // a deleted object is gone for new tasks too
    const gone = (await alice.objects.put(Buffer.from('gone'))).body;
    await alice.objects.remove(gone.id);
    expect((await alice.api('POST', '/v1/tasks', { functionId: a.fn, endpointId: a.endpointId, args: [{ $fx: 'object', id: gone.id }] })).status).toBe(404);
    // at most FX_MAX_REFS_PER_TASK (3 here) objects per task
    const many = Array.from({ length: 4 }, () => ({ $fx: 'object', id: o.id }));
    const tooMany = await alice.api('POST', '/v1/tasks', { functionId: a.fn, endpointId: a.endpointId, args: many });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.message).toMatch(/refers to 4 objects; a task may refer to at most 3/);
    a.peer.close();
  });

  it('name to the agent only the references the server checked: a value of that shape the user escaped stays data', async () => {
    const a = await agentOf(alice, 'escaped');
    const mine = (await alice.objects.put(Buffer.from('mine'))).body;
    const theirs = (await bob.objects.put(Buffer.from('bob'))).body;
    // bob's reference, complete, written the way a user sends a value with a "$fx" key of their own
    const forged = { ...theirs.ref, $fx: undefined, $$fx: 'object' };
    const args = [{ $fx: 'object', id: mine.id }, forged, { deep: [forged] }];
    const expected = [mine.ref, theirs.ref, { deep: [theirs.ref] }];
    // queued, then granted (LeasesRepository.grant) ...
    const queued = (await alice.api('POST', '/v1/tasks', { functionId: a.fn, endpointId: a.endpointId, args })).body.taskId as string;
    a.peer.send('credits', { credits: 1 });
    const [granted] = await a.peer.tasks(1);
    expect(granted).toMatchObject({ taskId: queued, args: expected, objects: [mine.ref] });
    // ... and leased in the insert, to an agent with credits (DirectLeaseService)
    a.peer.send('credits', { credits: 1 });
    await sleep(200); // the credits are the server's before the submission (else the task is granted as above)
    const direct = (await alice.api('POST', '/v1/tasks', { functionId: a.fn, endpointId: a.endpointId, args })).body.taskId as string;
    const [leased] = await a.peer.tasks(1);
    expect(leased).toMatchObject({ taskId: direct, args: expected, objects: [mine.ref] });
    // a task without references names none
    const plain = (await alice.api('POST', '/v1/tasks', { functionId: a.fn, endpointId: a.endpointId, args: [forged] })).body.taskId as string;
    a.peer.send('credits', { credits: 1 });
    const [data] = await a.peer.tasks(1);
    expect(data).toMatchObject({ taskId: plain, args: [theirs.ref] });
    expect(data!.objects).toBeUndefined();
    a.peer.close();
  });
});

describe('endpoint tokens', () => {
  it('read an object only while a task leased to their endpoint refers to it, or their owner owns it', async () => {
    const adminAgent = await agentOf(admin, 'admin-ep');
    const aliceAgent = await agentOf(alice, 'alice-ep');
    const bytes = randomBytes(4096);
    const bobs = (await bob.objects.put(bytes, { name: 'data/shared.bin' })).body;
    const bobsOther = (await bob.objects.put(Buffer.from('not referred to'))).body;
    const adminsOwn = (await admin.objects.put(Buffer.from('admin data'))).body;
    // an admin may read bob's object, so may pass it to a task on the admin's endpoint
    const sub = await admin.api('POST', '/v1/tasks', { functionId: adminAgent.fn, endpointId: adminAgent.endpointId, args: [{ $fx: 'object', id: bobs.id }] });
    expect(sub.status).toBe(201);
    // queued, not yet leased: no read
    expect((await adminAgent.objects.content(bobs.id)).status).toBe(404);
    adminAgent.peer.send('credits', { credits: 1 });
    const [task] = await adminAgent.peer.tasks(1);
    const got = await adminAgent.objects.content(bobs.id);
    expect(got.status).toBe(200);
    expect(got.bytes.equals(bytes)).toBe(true);
    expect((await adminAgent.objects.content(bobs.id, { range: 'bytes=4000-' })).bytes.equals(bytes.subarray(4000))).toBe(true);
    // what no task of its refers to, or another endpoint's task refers to: 404
    expect((await adminAgent.objects.content(bobsOther.id)).status).toBe(404);
    expect((await aliceAgent.objects.content(bobs.id)).status).toBe(404);
    // its owner's objects it may read
    expect((await adminAgent.objects.content(adminsOwn.id)).status).toBe(200);
    // the object routes endpoint tokens are not for
    expect((await adminAgent.objects.info(adminsOwn.id)).status).toBe(403);
    expect((await adminAgent.objects.list()).status).toBe(403);
    expect((await adminAgent.objects.remove(adminsOwn.id)).status).toBe(403);
    expect((await adminAgent.objects.put(Buffer.from('x'))).status).toBe(403);
    // once the task is final the reference no longer opens it
    adminAgent.peer.send('results', { results: [{ taskId: task!.taskId, attempt: 0, status: 'success', result: 1, timings: {} }] });
    await adminAgent.peer.next('ack');
    expect((await adminAgent.objects.content(bobs.id)).status).toBe(404);
    adminAgent.peer.close();
    aliceAgent.peer.close();
  });

  it('open uploads only for a task leased to their endpoint; the object is the task owner’s', async () => {
    const a = await agentOf(alice, 'uploads-ep');
    const other = await agentOf(bob, 'bobs-ep');
    const [t1, t2] = (
      await alice.api('POST', '/v1/tasks/batch', {
        endpointId: a.endpointId,
        tasks: [
          { functionId: a.fn, args: [1] },
          { functionId: a.fn, args: [2] },
        ],
      })
    ).body.taskIds as string[];
    a.peer.send('credits', { credits: 1 });
    const [leased] = await a.peer.tasks(1);
    const waiting = leased!.taskId === t1 ? t2! : t1!;
    const noTask = await a.objects.createUpload({ size: 1 });
    expect(noTask.status).toBe(403);
    expect(noTask.body.message).toMatch(/taskId/);
    expect((await a.objects.createUpload({ taskId: waiting })).status).toBe(404);
    expect((await other.objects.createUpload({ taskId: leased!.taskId })).status).toBe(404);
    const value = Buffer.from(JSON.stringify({ big: 'x'.repeat(5000) }));
    const up = await a.objects.createUpload({ taskId: leased!.taskId, encoding: 'json', size: value.length, sha256: sha256(value) });
    expect(up.status).toBe(201);
    // another endpoint cannot touch it
    expect((await other.objects.putPart(up.body.uploadId, 0, value)).status).toBe(404);
    expect((await a.objects.putPart(up.body.uploadId, 0, value)).status).toBe(200);
    const done = await a.objects.complete(up.body.uploadId);
    expect(done.status).toBe(201);
    expect(done.body).toMatchObject({ ownerId: alice.id, taskId: leased!.taskId, encoding: 'json', name: null });
    // a task's result is kept about as long as its task (FX_RESULT_RETENTION_SECONDS)
    expect(done.body.expiresAt).not.toBeNull();
    expect((await alice.objects.content(done.body.id)).body).toEqual({ big: 'x'.repeat(5000) });
    a.peer.close();
    other.peer.close();
  });
});

describe('results stored as objects', () => {
  it('are shown as resultRef in GET /v1/tasks/:id, POST /v1/tasks/results and websocket result frames', async () => {
    const a = await agentOf(alice, 'results-ep');
    const { taskIds } = (
      await alice.api('POST', '/v1/tasks/batch', {
        endpointId: a.endpointId,
        tasks: [
          { functionId: a.fn, args: [1] },
          { functionId: a.fn, args: [2] },
        ],
      })
    ).body;
    const sub = await subscribe(alice.token, taskIds);
    a.peer.send('credits', { credits: 2 });
    const tasks = await a.peer.tasks(2);
    const [good, forged] = [tasks.find((t) => t.taskId === taskIds[0])!, tasks.find((t) => t.taskId === taskIds[1])!];
    const value = Buffer.from(JSON.stringify([1, 2, 3]));
    const up = (await a.objects.createUpload({ taskId: good.taskId, encoding: 'json' })).body;
    await a.objects.putPart(up.uploadId, 0, value);
    const object = (await a.objects.complete(up.uploadId)).body;
    // the agent's fields are not trusted: the server fills the reference from its row
    const claimed = { ...object.ref, size: 1 };
    a.peer.send('results', {
      results: [
        { taskId: good.taskId, attempt: 0, status: 'success', resultRef: claimed, timings: {} },
        // the other task claims the first one's object: it holds no output of this task
        { taskId: forged.taskId, attempt: 0, status: 'success', resultRef: object.ref, timings: {} },
      ],
    });
    await a.peer.next('ack');
    const info = (await alice.api('GET', `/v1/tasks/${good.taskId}`)).body;
    expect(info.status).toBe('success');
    expect(info.resultRef).toEqual(object.ref);
    expect(info).not.toHaveProperty('result');
    const failed = (await alice.api('GET', `/v1/tasks/${forged.taskId}`)).body;
    expect(failed.status).toBe('failed');
    expect(failed.error.code).toBe('OBJECT_UNAVAILABLE');
    expect(failed.error.message).toContain(object.id);
    const results = (await alice.api('POST', '/v1/tasks/results', { taskIds })).body;
    expect(results.tasks[0]).toMatchObject({ status: 'success', resultRef: object.ref });
    expect(results.tasks[0]).not.toHaveProperty('result');
    await eventually(() => sub.outcomes.length >= 2, 30_000, 'both outcomes pushed');
    expect(sub.outcomes.find((o) => o.taskId === good.taskId)).toMatchObject({ status: 'success', resultRef: object.ref });
    // a subscription made after the task ended gets it from the catch-up read, the same
    const late = await subscribe(alice.token, [good.taskId]);
    await eventually(() => late.outcomes.length >= 1, 30_000, 'the catch-up outcome');
    expect(late.outcomes[0]).toMatchObject({ taskId: good.taskId, status: 'success', resultRef: object.ref });
    expect(late.outcomes[0]).not.toHaveProperty('result');
    late.close();
    // the content is the result, for its owner
    expect((await alice.objects.content(object.id)).body).toEqual([1, 2, 3]);
    sub.close();
    a.peer.close();
  });

  it('reach a dependent task as the reference in place, which its endpoint may then fetch', async () => {
    const a = await agentOf(alice, 'flow-ep');
    const first = (await alice.api('POST', '/v1/tasks', { functionId: a.fn, endpointId: a.endpointId, args: [1] })).body.taskId as string;
    const second = (await alice.api('POST', '/v1/tasks', { functionId: a.fn, endpointId: a.endpointId, args: [{ $fx: 'ref', taskId: first }, 'tail'] })).body
      .taskId as string;
    a.peer.send('credits', { credits: 1 });
    const [t1] = await a.peer.tasks(1);
    expect(t1!.taskId).toBe(first);
    const up = (await a.objects.createUpload({ taskId: first })).body;
    const bytes = randomBytes(10_000);
    await a.objects.putPart(up.uploadId, 0, bytes);
    const object = (await a.objects.complete(up.uploadId)).body;
    a.peer.send('results', { results: [{ taskId: first, attempt: 0, status: 'success', resultRef: object.ref, timings: {} }] });
    await a.peer.next('ack');
    a.peer.send('credits', { credits: 1 });
    const [t2] = await a.peer.tasks(1);
    expect(t2).toMatchObject({ taskId: second, args: [object.ref, 'tail'], objects: [object.ref] });
    const refs = await db.prisma.$queryRawUnsafe<Array<{ object_id: string }>>(`SELECT object_id FROM task_objects WHERE task_id = $1::uuid`, second);
    expect(refs.map((r) => r.object_id)).toEqual([object.id]);
    expect((await a.objects.content(object.id)).bytes.equals(bytes)).toBe(true);
    a.peer.close();
  });

  it("carry the task's outputName to the agent, which stores the result under that name", async () => {
    const a = await agentOf(alice, 'named-ep');
    const id = (await alice.api('POST', '/v1/tasks', { functionId: a.fn, endpointId: a.endpointId, args: [1] })).body.taskId as string;
    // triggers set output_name; until they exist, the row is given one directly
    await db.prisma.$executeRawUnsafe(`UPDATE tasks SET output_name = 'output/sample-1.txt' WHERE id = $1::uuid`, id);
    a.peer.send('credits', { credits: 1 });
    const [t] = await a.peer.tasks(1);
    expect(t).toMatchObject({ taskId: id, outputName: 'output/sample-1.txt' });
    const up = (await a.objects.createUpload({ taskId: id, name: t!.outputName })).body;
    await a.objects.putPart(up.uploadId, 0, Buffer.from('out'));
    const object = (await a.objects.complete(up.uploadId)).body;
    expect(object).toMatchObject({ name: 'output/sample-1.txt', ownerId: alice.id, taskId: id, expiresAt: null });
    expect((await alice.objects.list({ name: 'output/sample-1.txt' })).body.items.map((o: { id: string }) => o.id)).toEqual([object.id]);
    a.peer.close();
  });
});
