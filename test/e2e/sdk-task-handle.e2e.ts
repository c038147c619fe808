import { jest } from '@jest/globals';
import { Client, NotFoundError, TaskCancelledError, TaskFailedError, TaskHandle } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually } from '@fx/testing';

/**
 * Task handles against the real server and a real `fx-endpoint`: alice owns the endpoint and the
 * tasks; bob, another user, may hold a handle on her task id but every call on it fails as the SDK's
 * NotFoundError (the server shows no one else's tasks). One backend: the handle is pure SDK, the
 * storage behind the routes it uses is covered by fabric.e2e.ts on both.
 */
jest.setTimeout(180_000);

let server: ServerProcess;
let endpoint: EndpointProcess;
let alice: Client;
let bob: Client;

beforeAll(async () => {
  server = await ServerProcess.start('embedded', { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000', FX_SWEEP_INTERVAL_MS: '500' });
  const admin = new Client({ url: server.url, token: server.adminToken });
  const [a, b] = await Promise.all(['alice', 'bob'].map((name) => admin.createUser({ name })));
  const [aliceToken, bobToken] = await Promise.all([a!, b!].map(async (u) => (await admin.createToken(u.id)).token));
  admin.close();
  alice = new Client({ url: server.url, token: aliceToken! });
  bob = new Client({ url: server.url, token: bobToken! });
  endpoint = await EndpointProcess.configure(server, 'handles', { workers: 2, token: aliceToken! });
  endpoint.start();
  await eventually(async () => (await alice.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online').catch((e) => {
    throw new Error(`${(e as Error).message}\n${endpoint.log()}\n${server.log()}`);
  });
});

afterAll(async () => {
  alice?.close();
  bob?.close();
  await endpoint?.stop();
  await server?.stop();
});

it('submit returns a handle whose result and record are the task’s', async () => {
  const add = await alice.registerFunction((a: number, b: number) => a + b, { name: 'add' });
  const handle = await alice.submit<number>(add, endpoint.endpointId, [2, 3]);
  expect(handle).toBeInstanceOf(TaskHandle);
  expect(await handle.result({ timeoutMs: 30_000 })).toBe(5);
  const record = await handle.describe();
  expect(record).toMatchObject({ id: handle.id, functionId: add, endpointId: endpoint.endpointId, status: 'success', args: [2, 3], result: 5 });
  expect(record.timeline.completedAt).not.toBeNull();

  // a handle made from an id (here from run) is the same thing
  const again = alice.task<number>(await alice.run(add, endpoint.endpointId, [40, 2]));
  expect(await again.result({ timeoutMs: 30_000 })).toBe(42);
});

it('passes kwargs to a shell function, and a failed task’s result is TaskFailedError', async () => {
  const echo = await alice.registerShellFunction('echo {msg}', { name: 'echo' });
  const out = await (await alice.submit(echo, endpoint.endpointId, [], { kwargs: { msg: 'hi' } })).result({ timeoutMs: 30_000 });
  expect(out).toMatchObject({ returncode: 0, stdout: 'hi\n' });

  const explode = await alice.registerFunction(
    function explode(n: number) {
      throw new RangeError(`no good: ${n}`);
    },
    { name: 'explode' },
  );
  const handle = await alice.submit(explode, endpoint.endpointId, [7]);
  const err = await handle.result({ timeoutMs: 30_000 }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(TaskFailedError);
  expect(err).toMatchObject({ taskId: handle.id, remoteName: 'RangeError', remoteMessage: 'no good: 7' });
  expect((await handle.describe()).status).toBe('failed');
});

it('another user’s handle fails with NotFoundError and cannot cancel; the owner’s cancels the running task', async () => {
  const slow = await alice.registerFunction(() => new Promise((r) => setTimeout(r, 60_000)), { name: 'slow' });
  const handle = await alice.submit(slow, endpoint.endpointId);
  await eventually(async () => (await handle.describe()).status === 'running', 30_000, 'task running');

  const foreign = bob.task(handle.id);
  await expect(foreign.describe()).rejects.toBeInstanceOf(NotFoundError);
  await expect(foreign.cancel()).rejects.toBeInstanceOf(NotFoundError);
  await expect(foreign.result({ timeoutMs: 30_000 })).rejects.toBeInstanceOf(NotFoundError);
  expect((await handle.describe()).status).toBe('running');

  await expect(handle.cancel()).resolves.toMatchObject({ taskId: handle.id, status: 'cancelled', cancelled: true });
  await expect(handle.result({ timeoutMs: 30_000 })).rejects.toBeInstanceOf(TaskCancelledError);
  expect((await handle.describe()).status).toBe('cancelled');
  await expect(handle.cancel()).resolves.toMatchObject({ cancelled: false });
});
