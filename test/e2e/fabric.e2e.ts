import { jest } from '@jest/globals';
import { Client, TaskCancelledError, TaskFailedError } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually, type Backend } from '@fx/testing';

/**
 * The whole path a user walks, with real processes: the built server, a real `fx-endpoint` agent
 * with its worker processes, and the SDK. Run on PostgreSQL + Redis and on the embedded store.
 */
const BACKENDS: Backend[] = ['postgres+redis', 'embedded'];
jest.setTimeout(240_000);

describe.each(BACKENDS)('FX end to end on %s', (backend) => {
  let server: ServerProcess;
  let endpoint: EndpointProcess;
  let client: Client;
  const dumpLogs = () => `--- server ---\n${server?.log()}\n--- endpoint ---\n${endpoint?.log()}`;

  beforeAll(async () => {
    server = await ServerProcess.start(backend, { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000', FX_SWEEP_INTERVAL_MS: '500' });
    endpoint = await EndpointProcess.configure(server, 'e2e', { workers: 2 });
    endpoint.start();
    client = new Client({ url: server.url, token: server.adminToken });
    await eventually(async () => (await client.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online').catch((e) => {
      throw new Error(`${(e as Error).message}\n${dumpLogs()}`);
    });
  });

  afterAll(async () => {
    client?.close();
    await endpoint?.stop();
    await server?.stop();
  });

  it('runs a function registered from the SDK and returns its result', async () => {
    const add = await client.registerFunction((a: number, b: number) => a + b, { name: 'add' });
    const taskId = await client.run(add, endpoint.endpointId, [1, 2]);
    expect(await client.getResult(taskId, { timeoutMs: 30_000 })).toBe(3);
    const task = await client.getTask(taskId);
    expect(task.status).toBe('success');
    expect(task.timeline.dispatchedAt).not.toBeNull();
    expect(task.timeline.completedAt).not.toBeNull();
  });

  it('returns 1,000 correct results for a 1,000-task batch', async () => {
    const square = await client.registerFunction((x: number) => x * x, { name: 'square' });
    const ids = await client.runBatch(
      endpoint.endpointId,
      Array.from({ length: 1000 }, (_, i) => ({ functionId: square, args: [i] })),
    );
    expect(new Set(ids).size).toBe(1000);
    const results = await client.getResults(ids, { timeoutMs: 120_000 });
    expect(results).toEqual(Array.from({ length: 1000 }, (_, i) => i * i));
  });

  it('gives returncode 124 when a shell function passes its walltime, and fills placeholders safely', async () => {
    const sleepy = await client.registerShellFunction('sleep {seconds}; echo done', { name: 'sleepy', walltimeSeconds: 1 });
    const timedOut = await client.getResult(await client.run(sleepy, endpoint.endpointId, [], { seconds: 30 }), { timeoutMs: 30_000 });
    expect(timedOut).toMatchObject({ returncode: 124 });

    const echo = await client.registerShellFunction('echo {msg}', { name: 'echo' });
    const hostile = `'; echo pwned; '`;
    const out = await client.getResult(await client.run(echo, endpoint.endpointId, [], { msg: hostile }), { timeoutMs: 30_000 });
    expect(out).toMatchObject({ returncode: 0, stdout: `${hostile}\n` });
  });

  it('throws TaskFailedError with the remote stack when the function throws', async () => {
    const fails = await client.registerFunction(
      function explode(n: number) {
        throw new RangeError(`no good: ${n}`);
      },
      { name: 'explode' },
    );
    const taskId = await client.run(fails, endpoint.endpointId, [7]);
    const err = (await client.getResult(taskId, { timeoutMs: 30_000 }).catch((e) => e)) as TaskFailedError;
    expect(err).toBeInstanceOf(TaskFailedError);
    expect(err.remoteName).toBe('RangeError');
    expect(err.remoteMessage).toBe('no good: 7');
    expect(err.remoteStack).toMatch(/RangeError: no good: 7\n\s+at explode/);
  });

  it('fails only the crashing task with WORKER_LOST, and the pool recovers', async () => {
    const crash = await client.registerFunction(() => process.exit(3), { name: 'crash' });
    const ok = await client.registerFunction((x: number) => x + 1, { name: 'inc' });
    const crashId = await client.run(crash, endpoint.endpointId, []);
    const err = (await client.getResult(crashId, { timeoutMs: 30_000 }).catch((e) => e)) as TaskFailedError;
    expect(err).toBeInstanceOf(TaskFailedError);
    expect(err.code).toBe('WORKER_LOST');
    const ids = await client.runBatch(
      endpoint.endpointId,
      Array.from({ length: 20 }, (_, i) => ({ functionId: ok, args: [i] })),
    );
    expect(await client.getResults(ids, { timeoutMs: 60_000 })).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('cancels a running task', async () => {
    const slow = await client.registerFunction(() => new Promise((r) => setTimeout(r, 60_000)), { name: 'slow' });
    const taskId = await client.run(slow, endpoint.endpointId, []);
    await eventually(async () => (await client.getTask(taskId)).status === 'running', 30_000, 'task running');
    await client.cancel(taskId);
    await expect(client.getResult(taskId, { timeoutMs: 30_000 })).rejects.toBeInstanceOf(TaskCancelledError);
  });

  it('batches executor submissions made in one tick', async () => {
    const ex = client.executor(endpoint.endpointId);
    const futures = Array.from({ length: 50 }, (_, i) => ex.submit((x: number) => x * 3, i));
    expect(await Promise.all(futures)).toEqual(Array.from({ length: 50 }, (_, i) => i * 3));
    await ex.close();
  });

  it('finishes every task exactly once when the endpoint is SIGKILLed mid-batch and restarted', async () => {
    const work = await client.registerFunction(
      async (i: number) => {
        await new Promise((r) => setTimeout(r, 20));
        return i;
      },
      { name: 'work' },
    );
    const n = 300;
    const ids = await client.runBatch(
      endpoint.endpointId,
      Array.from({ length: n }, (_, i) => ({ functionId: work, args: [i] })),
    );
    const seen = new Map<string, number>();
    const collecting = (async () => {
      for await (const outcome of client.results(ids, { timeoutMs: 180_000 })) seen.set(outcome.taskId, (seen.get(outcome.taskId) ?? 0) + 1);
    })();
    await eventually(
      async () => {
        const st = await client.getTaskStatuses(ids);
        return st.tasks.filter((t) => t.status === 'success').length >= 30;
      },
      60_000,
      'some progress',
    );
    expect(await endpoint.kill('SIGKILL')).toBeNull();
    endpoint.start();
    await collecting;
    expect(seen.size).toBe(n);
    expect([...seen.values()].every((c) => c === 1)).toBe(true);
    const results = await client.getResults(ids, { timeoutMs: 60_000 });
    expect(results).toEqual(Array.from({ length: n }, (_, i) => i));
    const statuses = await client.getTaskStatuses(ids);
    expect(statuses.tasks.every((t) => t.status === 'success')).toBe(true);
  });

  it('finishes every task exactly once when the server is SIGKILLed mid-batch and restarted', async () => {
    const work = await client.registerFunction(
      async (i: number) => {
        await new Promise((r) => setTimeout(r, 20));
        return 1000 - i;
      },
      { name: 'work2' },
    );
    const n = 300;
    const ids = await client.runBatch(
      endpoint.endpointId,
      Array.from({ length: n }, (_, i) => ({ functionId: work, args: [i] })),
    );
    await eventually(
      async () => {
        const st = await client.getTaskStatuses(ids);
        return st.tasks.filter((t) => t.status === 'success').length >= 30;
      },
      60_000,
      'some progress',
    );
    await server.restart();
    const results = await client.getResults(ids, { timeoutMs: 180_000 });
    expect(results).toEqual(Array.from({ length: n }, (_, i) => 1000 - i));
    const statuses = await client.getTaskStatuses(ids);
    expect(statuses.tasks.filter((t) => t.status === 'success')).toHaveLength(n);
  });
});
