import { jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Client, NotFoundError, TaskCancelledError, TaskFailedError, ValidationError, itemRef } from '@fx/sdk';
import { EndpointProcess, FX_ROOT, ServerProcess, eventually, type Backend } from '@fx/testing';

/**
 * Futures as arguments (issue 14) with real processes: graphs submitted in one request, run across two
 * endpoints, failures and cancellations travelling downstream, refs to other users' tasks refused, and
 * a graph that survives a server SIGKILL. The whole suite runs on PostgreSQL + Redis; the embedded
 * store (which applies the same migration itself) runs the diamond and the kill.
 */
jest.setTimeout(300_000);

const FAST = { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000', FX_SWEEP_INTERVAL_MS: '500' };

describe.each<Backend>(['postgres+redis', 'embedded'])('dataflow graphs on %s', (backend) => {
  const full = backend === 'postgres+redis';
  let server: ServerProcess;
  let laptop: EndpointProcess;
  let cluster: EndpointProcess;
  let alice: Client;
  let bob: Client;
  let aliceToken: string;
  const logs = () => `--- server ---\n${server?.log()}\n--- laptop ---\n${laptop?.log()}\n--- cluster ---\n${cluster?.log()}`;

  beforeAll(async () => {
    server = await ServerProcess.start(backend, FAST);
    const admin = new Client({ url: server.url, token: server.adminToken });
    const [a, b] = await Promise.all(['alice', 'bob'].map((name) => admin.createUser({ name })));
    const [aToken, bToken] = await Promise.all([a!, b!].map(async (u) => (await admin.createToken(u.id)).token));
    admin.close();
    aliceToken = aToken!;
    alice = new Client({ url: server.url, token: aliceToken });
    bob = new Client({ url: server.url, token: bToken! });
    laptop = await EndpointProcess.configure(server, 'laptop', { workers: 2, token: aliceToken });
    cluster = await EndpointProcess.configure(server, 'cluster', { workers: 2, token: aliceToken });
    laptop.start();
    cluster.start();
    for (const ep of [laptop, cluster]) {
      await eventually(async () => (await alice.getEndpoint(ep.endpointId)).state === 'online', 30_000, `${ep.name} online`).catch((e) => {
        throw new Error(`${(e as Error).message}\n${logs()}`);
      });
    }
  });

  afterAll(async () => {
    alice?.close();
    bob?.close();
    await laptop?.stop();
    await cluster?.stop();
    await server?.stop();
  });

  it('runs a diamond across two endpoints from one batch request; the last node receives plain values', async () => {
    const inc = await alice.registerFunction((x: number) => x + 1, { name: 'inc' });
    const double = await alice.registerFunction((x: number) => 2 * x, { name: 'double' });
    const square = await alice.registerFunction((x: number) => x * x, { name: 'square' });
    const combine = await alice.registerFunction((b: number, rest: { c: number[] }) => ({ b, c: rest.c[0], $fx: 'kept' }), { name: 'combine' });
    const ids = await alice.runBatch(laptop.endpointId, [
      { functionId: inc, args: [4] },
      { functionId: double, endpointId: cluster.endpointId, args: [itemRef(0)] },
      { functionId: square, args: [itemRef(0)] },
      { functionId: combine, endpointId: cluster.endpointId, args: [itemRef(1), { c: [itemRef(2)] }] },
    ]);
    expect(await alice.getResult(ids[3]!, { timeoutMs: 60_000 }).catch((e) => Promise.reject(new Error(`${e}\n${logs()}`)))).toEqual({
      b: 10,
      c: 25,
      $fx: 'kept',
    });
    const last = await alice.getTask(ids[3]!);
    expect(last).toMatchObject({ endpointId: cluster.endpointId, status: 'success', args: [10, { c: [25] }] });
    expect(last.timeline.readyAt).not.toBeNull();
    expect((await alice.getTask(ids[2]!)).endpointId).toBe(laptop.endpointId);

    // a later task refers to an earlier one by its handle, or by client.ref, at any depth
    const handle = alice.task<number>(ids[1]!);
    const again = await alice.submit<number>(double, laptop.endpointId, [handle]);
    expect(await again.result({ timeoutMs: 30_000 })).toBe(20);
    const nested = await alice.run(combine, cluster.endpointId, [alice.ref(again.id), { c: [alice.ref(ids[0]!)] }]);
    expect(await alice.getResult(nested, { timeoutMs: 30_000 })).toEqual({ b: 20, c: 5, $fx: 'kept' });
  });

  it('promotes a dependent submitted while its input runs, when the input completes right after', async () => {
    const nap = await alice.registerFunction((ms: number) => new Promise((r) => setTimeout(() => r(ms), ms)), { name: 'nap' });
    const plus = await alice.registerFunction((x: number) => x + 1, { name: 'plus' });
    const input = await alice.run(nap, laptop.endpointId, [1500]);
    await eventually(async () => (await alice.getTask(input)).status === 'running', 30_000, 'input running');
    const dependent = await alice.run(plus, cluster.endpointId, [alice.ref(input)]);
    await expect(alice.getResult(dependent, { timeoutMs: 30_000 })).resolves.toBe(1501);
  });

  it('survives a server SIGKILL mid-graph: every node ends once, with the right value', async () => {
    const slowInc = await alice.registerFunction((x: number) => new Promise((r) => setTimeout(() => r(x + 1), 150)), { name: 'slow-inc' });
    const total = await alice.registerFunction((...xs: number[]) => xs.reduce((a, b) => a + b, 0), { name: 'total' });
    // four chains of 10, each on alternating endpoints, summed at the end
    const items: Array<{ functionId: string; endpointId?: string; args: unknown[] }> = [];
    const tails: number[] = [];
    for (let chain = 0; chain < 4; chain++) {
      for (let step = 0; step < 10; step++) {
        items.push({
          functionId: slowInc,
          endpointId: step % 2 ? cluster.endpointId : laptop.endpointId,
          args: [step === 0 ? chain * 100 : itemRef(items.length - 1)],
        });
      }
      tails.push(items.length - 1);
    }
    items.push({ functionId: total, args: tails.map((i) => itemRef(i)) });
    const ids = await alice.runBatch(laptop.endpointId, items);
    await eventually(async () => (await alice.getTaskStatuses(ids)).tasks.filter((t) => t.status === 'success').length >= 8, 60_000, 'graph under way');
    await server.kill('SIGKILL');
    await server.restart();
    const sum = await alice.getResult(ids[ids.length - 1]!, { timeoutMs: 120_000 }).catch((e) => Promise.reject(new Error(`${e}\n${logs()}`)));
    expect(sum).toBe(0 + 100 + 200 + 300 + 4 * 10);
    const statuses = await alice.getTaskStatuses(ids);
    expect(statuses.tasks.every((t) => t.status === 'success')).toBe(true);
  });

  // the rest once: graph rules are the same SQL on both stores, and each run costs a minute
  if (full) {
    it('submits a map → reduce → post graph of 3,002 nodes in one request', async () => {
      const square = await alice.registerFunction((x: number) => x * x, { name: 'sq' });
      const sum = await alice.registerFunction((xs: number[]) => xs.reduce((a, b) => a + b, 0), { name: 'sum' });
      const half = await alice.registerFunction((x: number) => x / 2, { name: 'half' });
      const n = 3000;
      const items = Array.from({ length: n }, (_, i) => ({
        functionId: square,
        endpointId: i % 2 ? cluster.endpointId : laptop.endpointId,
        args: [i] as unknown[],
      }));
      items.push({ functionId: sum, endpointId: cluster.endpointId, args: [Array.from({ length: n }, (_, i) => itemRef(i))] });
      items.push({ functionId: half, endpointId: laptop.endpointId, args: [itemRef(n)] });
      const accepted: string[] = [];
      const ids = await alice.runBatch(laptop.endpointId, items, { onAccepted: (a) => accepted.push(a.batchId) });
      expect(accepted).toHaveLength(1);
      const expected = Array.from({ length: n }, (_, i) => i * i).reduce((a, b) => a + b, 0);
      expect(await alice.getResult(ids[n + 1]!, { timeoutMs: 180_000 })).toBe(expected / 2);
    });

    it('runs examples/dataflow.mjs as the README prints it', async () => {
      const { stdout } = await promisify(execFile)(process.execPath, ['examples/dataflow.mjs'], {
        cwd: FX_ROOT,
        env: { PATH: process.env.PATH, FX_URL: server.url, FX_TOKEN: aliceToken, FX_ENDPOINT: laptop.endpointId },
        timeout: 120_000,
      });
      expect(stdout).toBe('164175\n164175\n');
    });

    it('fails everything downstream of a failure with DEPENDENCY_FAILED naming the input and its code', async () => {
      const boom = await alice.registerFunction(
        function boom() {
          throw new RangeError('no');
        },
        { name: 'boom' },
      );
      const id = await alice.registerFunction((x: unknown) => x, { name: 'id' });
      const [a, b, c] = await alice.runBatch(laptop.endpointId, [
        { functionId: boom },
        { functionId: id, endpointId: cluster.endpointId, args: [itemRef(0)] },
        { functionId: id, args: [[itemRef(1)]] },
      ]);
      const errB = await alice.getResult(b!, { timeoutMs: 30_000 }).catch((e: unknown) => e);
      expect(errB).toBeInstanceOf(TaskFailedError);
      expect(errB).toMatchObject({
        code: 'DEPENDENCY_FAILED',
        remoteMessage: `input ${a} failed with TASK_ERROR`,
        dependency: { taskId: a, code: 'TASK_ERROR' },
      });
      const errC = await alice.getResult(c!, { timeoutMs: 30_000 }).catch((e: unknown) => e);
      expect(errC).toMatchObject({ code: 'DEPENDENCY_FAILED', dependency: { taskId: a, code: 'TASK_ERROR' } });
      expect((errC as TaskFailedError).remoteMessage).toContain(`input ${b} failed with DEPENDENCY_FAILED`);
      expect((await alice.getTask(c!)).timeline.dispatchedAt).toBeNull();
    });

    it('cancelling a task cancels everything downstream, and a new ref to it ends at once', async () => {
      const slow = await alice.registerFunction(() => new Promise((r) => setTimeout(r, 60_000)), { name: 'slow' });
      const id = await alice.registerFunction((x: unknown) => x, { name: 'ident' });
      const [s, t, u] = await alice.runBatch(cluster.endpointId, [
        { functionId: slow },
        { functionId: id, args: [itemRef(0)] },
        { functionId: id, kwargs: { x: itemRef(1) } },
      ]);
      await eventually(async () => (await alice.getTask(s!)).status === 'running', 30_000, 'slow task running');
      expect((await alice.getTask(u!)).status).toBe('waiting-for-dependencies');
      await expect(alice.cancel(s!)).resolves.toMatchObject({ cancelled: true });
      for (const dependent of [t!, u!]) {
        await expect(alice.getResult(dependent, { timeoutMs: 30_000 })).rejects.toBeInstanceOf(TaskCancelledError);
        expect((await alice.getTask(dependent)).error).toMatchObject({ code: 'DEPENDENCY_FAILED', dependency: { taskId: s, code: 'TASK_CANCELLED' } });
      }
      const late = await alice.run(id, laptop.endpointId, [alice.ref(s!)]);
      await expect(alice.getResult(late, { timeoutMs: 30_000 })).rejects.toBeInstanceOf(TaskCancelledError);
    });

    it('refuses a ref to another user’s or an unknown task (404), a forward item ref and a bad $fx object', async () => {
      const id = await alice.registerFunction((x: unknown) => x, { name: 'echo-x' });
      const mine = await alice.run(id, laptop.endpointId, [1]);
      const bobsFn = await bob.registerFunction((x: unknown) => x, { name: 'echo-x' });
      const bobsEp = (await bob.registerEndpoint({ name: 'bobs' })).endpoint.id;
      await expect(bob.run(bobsFn, bobsEp, [bob.ref(mine)])).rejects.toBeInstanceOf(NotFoundError);
      await expect(bob.getTask(mine)).rejects.toBeInstanceOf(NotFoundError);
      await expect(alice.run(id, laptop.endpointId, [alice.ref('00000000-0000-4000-8000-000000000000')])).rejects.toBeInstanceOf(NotFoundError);
      await expect(alice.runBatch(laptop.endpointId, [{ functionId: id, args: [itemRef(1)] }, { functionId: id }])).rejects.toBeInstanceOf(ValidationError);
      const raw = await fetch(`${server.url}/v1/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ functionId: id, endpointId: laptop.endpointId, args: [{ $fx: 'literal', value: 1 }] }),
      });
      expect(raw.status).toBe(400);
      expect(await raw.json()).toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringContaining('reserved key') });
    });
  }
});
