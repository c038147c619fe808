import { jest } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import type { ObjectInfo, ObjectRef } from '@fx/protocol';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess, countingProxy, eventually, type CountingProxy } from '@fx/testing';
import { objectsClient } from '../../apps/server/src/testing/objects-client.js';

/**
 * Data by reference through real processes (issue 15, the agent's side): the built server on
 * PostgreSQL + Redis and a real fx-endpoint whose every connection to the server (its socket and its
 * object transfers) passes through a counting TCP proxy. A js task given an object returns a Buffer,
 * which the agent stores as the result object; an input shared by many tasks crosses the network once.
 */
jest.setTimeout(300_000);

let server: ServerProcess;
let endpoint: EndpointProcess;
let proxy: CountingProxy;
let alice: Client;
let aliceToken: string;
let objects: ReturnType<typeof objectsClient>;
/** The input of the sharing test, cached on the endpoint's disk since. */
let shared: { id: string; size: number } | undefined;
/** Tasks sharing one input (the count). */
const TASKS = 1000;
const logs = () => `--- server ---\n${server?.log()}\n--- endpoint ---\n${endpoint?.log()}`;

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${aliceToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

/** The task once final (waited for through the REST task view, which carries resultRef). */
async function finished(taskId: string): Promise<any> {
  let task: any;
  await eventually(
    async () => {
      task = (await api('GET', `/v1/tasks/${taskId}`)).body;
      return task?.status === 'success' || task?.status === 'failed';
    },
    60_000,
    `task ${taskId} final`,
  ).catch((e) => Promise.reject(new Error(`${(e as Error).message}\n${JSON.stringify(task)}\n${logs()}`)));
  return task;
}

async function put(bytes: Buffer): Promise<ObjectInfo> {
  const reply = await objects.put(bytes);
  expect(reply.status).toBe(201);
  return reply.body;
}

beforeAll(async () => {
  server = await ServerProcess.start('postgres+redis', { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000' });
  const admin = new Client({ url: server.url, token: server.adminToken });
  const user = await admin.createUser({ name: 'alice' });
  aliceToken = (await admin.createToken(user.id)).token;
  admin.close();
  alice = new Client({ url: server.url, token: aliceToken });
  objects = objectsClient(server.url, aliceToken);
  proxy = await countingProxy(new URL(server.url));
  endpoint = await EndpointProcess.configure(server, 'objects', { workers: 2, token: aliceToken });
  // the agent speaks to the server only through the proxy: its socket and every object transfer
  await endpoint.mergeConfig({ url: proxy.url });
  endpoint.start();
  await eventually(async () => (await alice.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online').catch((e) => {
    throw new Error(`${(e as Error).message}\n${logs()}`);
  });
});

afterAll(async () => {
  alice?.close();
  await endpoint?.stop();
  await proxy?.close();
  await server?.stop();
});

it('gives a js task its object as a Buffer and stores the Buffer it returns as its result object', async () => {
  const input = randomBytes(3 * 1024 * 1024 + 17);
  const object = await put(input);
  const fn = await alice.registerFunction((blob: Buffer, tail: string) => Buffer.concat([blob.subarray(0, 1024 * 1024), Buffer.from(tail)]), {
    name: 'head-and-tail',
  });
  const sub = await api('POST', '/v1/tasks', { functionId: fn, endpointId: endpoint.endpointId, args: [{ $fx: 'object', id: object.id }, '!end'] });
  expect(sub.status).toBe(201);
  const task = await finished(sub.body.taskId);
  expect(task).toMatchObject({ status: 'success', resultRef: { $fx: 'object', encoding: 'bytes', size: 1024 * 1024 + 4 } });
  expect(task.result ?? null).toBeNull();
  const expected = Buffer.concat([input.subarray(0, 1024 * 1024), Buffer.from('!end')]);
  const ref = task.resultRef as ObjectRef;
  expect(ref.sha256).toBe(createHash('sha256').update(expected).digest('hex'));
  const content = await objects.content(ref.id);
  expect(content.status).toBe(200);
  expect(content.bytes.equals(expected)).toBe(true);
  // the result object is alice's, and belongs to the task that made it
  expect((await objects.info(ref.id)).body).toMatchObject({ taskId: sub.body.taskId, ownerId: expect.any(String) });
});

it('moves an input shared by 1,000 tasks across the network once', async () => {
  const size = 4 * 1024 * 1024;
  const object = await put(randomBytes(size));
  shared = { id: object.id, size };
  const fn = await alice.registerFunction((blob: Buffer, i: number) => blob.length + i, { name: 'length-plus' });
  const before = proxy.down();
  const batch = await api('POST', '/v1/tasks/batch', {
    endpointId: endpoint.endpointId,
    tasks: Array.from({ length: TASKS }, (_, i) => ({ functionId: fn, args: [{ $fx: 'object', id: object.id }, i] })),
  });
  expect(batch.status).toBe(201);
  const ids = batch.body.taskIds as string[];
  const results = await alice.getResults(ids, { timeoutMs: 120_000 });
  expect(results).toEqual(ids.map((_, i) => size + i));
  const moved = proxy.down() - before;
  console.log(`objects: ${TASKS} tasks sharing a ${size}-byte input moved ${moved} bytes from the server to the agent`);
  // one copy of the input plus the task frames; each task fetching it would be 1,000 × 4 MiB
  expect(moved).toBeGreaterThan(size);
  expect(moved).toBeLessThan(size + 1024 * 1024);
});

it('keeps its cache across a restart, and runs a task whose object its owner deleted meanwhile (the task still refers to it)', async () => {
  const object = await put(randomBytes(1024));
  const fn = await alice.registerFunction((blob: Buffer) => blob.length, { name: 'len' });
  expect(await endpoint.kill('SIGTERM')).toBe(0);
  const sub = await api('POST', '/v1/tasks', { functionId: fn, endpointId: endpoint.endpointId, args: [{ $fx: 'object', id: object.id }] });
  const again = await api('POST', '/v1/tasks', { functionId: fn, endpointId: endpoint.endpointId, args: [{ $fx: 'object', id: shared!.id }] });
  expect([sub.status, again.status]).toEqual([201, 201]);
  expect((await objects.remove(object.id)).status).toBe(204);
  const before = proxy.down();
  endpoint.start();
  // DESIGN invariant 10: an object is collected only once nothing that can still run refers to it
  expect(await finished(sub.body.taskId)).toMatchObject({ status: 'success', result: 1024 });
  expect(await finished(again.body.taskId)).toMatchObject({ status: 'success', result: shared!.size });
  expect(proxy.down() - before).toBeLessThan(shared!.size / 4);
});

it('hands the function a value shaped like a reference that the user escaped, however it is cached on the endpoint', async () => {
  const info = (await objects.info(shared!.id)).body as ObjectInfo;
  // the user's own data with the reference's shape, sent escaped (as the SDKs write a "$fx" key of the user's)
  const { $fx: _, ...fields } = info.ref;
  const mine = { $$fx: 'object', ...fields };
  const small = await put(Buffer.from('abc'));
  const fn = await alice.registerFunction((blob: Buffer, value: unknown) => ({ length: blob.length, value }), { name: 'shape' });
  const before = proxy.down();
  const sub = await api('POST', '/v1/tasks', { functionId: fn, endpointId: endpoint.endpointId, args: [{ $fx: 'object', id: small.id }, { deep: [mine] }] });
  expect(sub.status).toBe(201);
  // what the function got is the value the user sent (unescaped), not the 4 MiB the endpoint holds for it
  expect(await finished(sub.body.taskId)).toMatchObject({ status: 'success', result: { length: 3, value: { deep: [info.ref] } } });
  // the same without a reference of the server's beside it
  const alone = await api('POST', '/v1/tasks', { functionId: fn, endpointId: endpoint.endpointId, args: ['abc', mine] });
  expect(await finished(alone.body.taskId)).toMatchObject({ status: 'success', result: { length: 3, value: info.ref } });
  expect(proxy.down() - before).toBeLessThan(64 * 1024);
});
