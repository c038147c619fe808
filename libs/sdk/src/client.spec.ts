import { randomUUID } from 'node:crypto';
import { FakeFxServer, GOOD_TOKEN } from './__fixtures__/fake-fx-server.js';
import { Client } from './client.js';
import {
  ConnectionError,
  NotFoundError,
  PartialBatchError,
  PayloadTooLargeError,
  SerializationError,
  ServerError,
  TaskCancelledError,
  TaskFailedError,
  ValidationError,
} from './errors.js';
import { TaskHandle } from './task-handle.js';

let server: FakeFxServer;
let client: Client;
const endpointId = randomUUID();
const functionId = randomUUID();

beforeEach(async () => {
  server = await new FakeFxServer().start();
  client = new Client({ url: server.url, token: GOOD_TOKEN, maxRetries: 0 });
});
afterEach(async () => {
  client.close();
  await server.stop();
});

describe('functions', () => {
  it('registers a JS function with its source and runtime js', async () => {
    const id = await client.registerFunction((a: number, b: number) => a + b, { name: 'add', walltimeSeconds: 5 });
    const sent = server.requestsTo('POST', '/v1/functions')[0]!.body as Record<string, unknown>;
    expect(sent).toMatchObject({ name: 'add', runtime: 'js', walltimeSeconds: 5 });
    expect(new Function(`return (${String(sent.source)})`)()(1, 2)).toBe(3);
    expect((await client.getFunction(id)).name).toBe('add');
  });

  it('names a function after itself when no name is given', async () => {
    function multiply(a: number, b: number) {
      return a * b;
    }
    await client.registerFunction(multiply);
    expect((await client.listFunctions()).map((f) => f.name)).toEqual(['multiply']);
  });

  it('registers a shell template with runtime shell', async () => {
    await client.registerShellFunction('echo {msg}', { name: 'echo', walltimeSeconds: 10 });
    expect(server.requestsTo('POST', '/v1/functions')[0]!.body).toEqual({
      name: 'echo',
      runtime: 'shell',
      source: 'echo {msg}',
      walltimeSeconds: 10,
      public: false,
    });
  });

  it('registers a shell template that fails on a non-zero exit', async () => {
    await client.registerShellFunction('exit {code}', { name: 'strict', failOnNonZeroExit: true });
    expect(server.requestsTo('POST', '/v1/functions')[0]!.body).toMatchObject({ runtime: 'shell', failOnNonZeroExit: true });
  });

  it('registers Python source with its entry point (named after it by default), and checks both before sending', async () => {
    const source = 'import statistics\n\ndef analyze(xs):\n    return statistics.mean(xs)\n';
    const id = await client.registerPythonFunction(source, { entrypoint: 'analyze' });
    expect(server.requestsTo('POST', '/v1/functions')[0]!.body).toEqual({ name: 'analyze', runtime: 'python', source, entrypoint: 'analyze', public: false });
    expect(await client.getFunction(id)).toMatchObject({ runtime: 'python', entrypoint: 'analyze', failOnNonZeroExit: false });
    await expect(client.registerPythonFunction(source, { entrypoint: 'not valid' })).rejects.toThrow(
      /invalid function registration: entrypoint: must be a Python identifier/,
    );
    await expect(client.registerPythonFunction('', { entrypoint: 'main' })).rejects.toThrow(ValidationError);
    expect(server.requestsTo('POST', '/v1/functions')).toHaveLength(1);
  });
});

describe('names', () => {
  it('registering the same function again returns its id; other content is a new version of the name', async () => {
    const first = await client.registerFunction((a: number, b: number) => a + b, { name: 'add' });
    expect(await client.registerFunction((a: number, b: number) => a + b, { name: 'add' })).toBe(first);
    const second = await client.registerFunction((a: number, b: number) => b + a, { name: 'add' });
    expect(second).not.toBe(first);
    expect((await client.listFunctionVersions('add')).map((f) => [f.id, f.version])).toEqual([
      [second, 2],
      [first, 1],
    ]);
    expect((await client.getFunction('add')).id).toBe(second);
    expect((await client.getFunction('add@1')).id).toBe(first);
  });

  it('sends function and endpoint names as they are, encoded in paths', async () => {
    const taskId = await client.run('alice/add@2', 'gpu-1', [1, 2]);
    expect(server.tasks.get(taskId)).toMatchObject({ functionId: 'alice/add@2', endpointId: 'gpu-1' });
    const ids = await client.runBatch('gpu-1', [
      { functionId: 'add', args: [1] },
      { functionId, endpointId: 'cpu', args: [2] },
    ]);
    expect(server.requestsTo('POST', '/v1/tasks/batch')[0]!.body).toEqual({
      endpointId: 'gpu-1',
      tasks: [
        { functionId: 'add', args: [1] },
        { functionId, endpointId: 'cpu', args: [2] },
      ],
    });
    expect(ids).toHaveLength(2);
    await client.getFunction('alice/add@2').catch(() => undefined);
    await client.getEndpoint('bob/gpu').catch(() => undefined);
    expect(server.requests.slice(-2).map((r) => r.path)).toEqual(['/v1/functions/alice%2Fadd%402', '/v1/endpoints/bob%2Fgpu']);
  });

  it('refuses what is neither an id nor a name before sending, and endpoint names with a version', async () => {
    await expect(client.run('add@0', endpointId)).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(client.run(functionId, 'gpu@1')).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(client.runBatch(endpointId, [{ functionId, endpointId: 'gpu@1' }])).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringContaining('batch item 0'),
    });
    await expect(client.getEndpoint('a/b/c')).rejects.toMatchObject({ name: 'ValidationError' });
    expect(() => client.executor('no spaces')).toThrow(/endpointId/);
    expect(server.requests).toHaveLength(0);
  });
});

describe('run', () => {
  it('submits args and kwargs and returns the task id', async () => {
    const taskId = await client.run(functionId, endpointId, [1, 2], { k: 'v' });
    expect(server.tasks.get(taskId)).toMatchObject({ functionId, endpointId, args: [1, 2], kwargs: { k: 'v' } });
  });

  it('refuses, before sending anything, arguments JSON would change (add(NaN, 1) must not return 1)', async () => {
    await expect(client.run(functionId, endpointId, [NaN, 1])).rejects.toMatchObject({ name: 'SerializationError', path: 'args[0]' });
    await expect(client.run(functionId, endpointId, [], { x: { y: new Map() } })).rejects.toBeInstanceOf(SerializationError);
    await expect(
      client.runBatch(endpointId, [
        { functionId, args: [1] },
        { functionId, kwargs: { n: 1n } },
      ]),
    ).rejects.toMatchObject({ path: 'items[1].kwargs.n' });
    expect(server.requestsTo('POST', '/v1/tasks')).toHaveLength(0);
    expect(server.requestsTo('POST', '/v1/tasks/batch')).toHaveLength(0);
  });
});

describe('runBatch', () => {
  it('splits more than 10,000 tasks into requests of at most 10,000 and keeps the ids in order', async () => {
    const items = Array.from({ length: 25_000 }, (_, i) => ({ functionId, args: [i] }));
    const ids = await client.runBatch(endpointId, items);

    const sizes = server.requestsTo('POST', '/v1/tasks/batch').map((r) => (r.body as { tasks: unknown[] }).tasks.length);
    expect(sizes).toEqual([10_000, 10_000, 5_000]);
    expect(ids).toHaveLength(25_000);
    expect(new Set(ids).size).toBe(25_000);
    ids.forEach((id, i) => {
      const t = server.tasks.get(id)!;
      if (t.args[0] !== i || t.endpointId !== endpointId) throw new Error(`task ${i} got id of task ${String(t.args[0])}`);
    });
  }, 30_000);

  it('validates batch items before sending any', async () => {
    const items = [{ functionId }, { functionId: 'not a name!' }];
    await expect(client.runBatch(endpointId, items)).rejects.toMatchObject({ name: 'ValidationError', message: expect.stringContaining('batch item 1') });
    await expect(client.runBatch(endpointId, [{ functionId, extra: 1 } as never])).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(client.runBatch(endpointId, [{ functionId, kwargs: [] as never }])).rejects.toMatchObject({ name: 'ValidationError' });
    expect(server.requests).toHaveLength(0);
  });

  it('also splits by request size', async () => {
    const big = 'x'.repeat(1000);
    const c = new Client({ url: server.url, token: GOOD_TOKEN, maxRequestBytes: 10_000 });
    const ids = await c.runBatch(
      endpointId,
      Array.from({ length: 30 }, (_, i) => ({ functionId, args: [i, big] })),
    );
    c.close();
    const requests = server.requestsTo('POST', '/v1/tasks/batch');
    expect(requests.length).toBeGreaterThan(2);
    for (const r of requests) expect(Buffer.byteLength(JSON.stringify(r.body))).toBeLessThanOrEqual(10_000);
    expect(ids.map((id) => server.tasks.get(id)!.args[0])).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it('refuses a single task larger than a request before sending anything', async () => {
    const c = new Client({ url: server.url, token: GOOD_TOKEN, maxRequestBytes: 1_000 });
    await expect(c.runBatch(endpointId, [{ functionId }, { functionId, args: ['x'.repeat(2_000)] }])).rejects.toBeInstanceOf(PayloadTooLargeError);
    c.close();
    expect(server.requests).toHaveLength(0);
  });

  it('reports the ids already accepted when a later request fails', async () => {
    let batches = 0;
    server.override = (r) => (r.path === '/v1/tasks/batch' && ++batches === 2 ? { status: 500, body: { code: 'INTERNAL', message: 'boom' } } : undefined);
    const err = (await client
      .runBatch(
        endpointId,
        Array.from({ length: 10_001 }, () => ({ functionId })),
      )
      .catch((e: unknown) => e)) as PartialBatchError;
    expect(err).toBeInstanceOf(PartialBatchError);
    expect(err.cause).toBeInstanceOf(ServerError);
    expect(err.acceptedTaskIds).toHaveLength(10_000);
    expect(err.acceptedTaskIds.every((id) => server.tasks.has(id))).toBe(true);
  }, 30_000);

  it('sends nothing for an empty batch', async () => {
    await expect(client.runBatch(endpointId, [])).resolves.toEqual([]);
    expect(server.requests).toHaveLength(0);
  });
});

describe('tasks', () => {
  it('gets a task and cancels it', async () => {
    const taskId = await client.run(functionId, endpointId);
    expect((await client.getTask(taskId)).status).toBe('received');
    await expect(client.cancel(taskId)).resolves.toEqual({ taskId, status: 'cancelled', cancelled: true });
    await expect(client.getResult(taskId)).rejects.toMatchObject({ name: 'TaskCancelledError' });
  });
});

describe('submit', () => {
  it('submits like run and returns a handle on the stored task', async () => {
    const warnings: unknown[] = [];
    server.override = (r) =>
      r.method === 'POST' && r.path === '/v1/tasks'
        ? { status: 201, body: { taskId: '00000000-0000-4000-8000-0000000000aa', warnings: [{ code: 'ENDPOINT_OFFLINE', endpointId, message: 'offline' }] } }
        : undefined;
    const offline = await client.submit(functionId, endpointId, [1], { onWarning: (w) => warnings.push(w) });
    expect(offline.id).toBe('00000000-0000-4000-8000-0000000000aa');
    expect(warnings).toEqual([{ code: 'ENDPOINT_OFFLINE', endpointId, message: 'offline' }]);
    server.override = undefined;

    const handle = await client.submit<number>(functionId, endpointId, [1, 2], { kwargs: { k: 'v' }, resources: { cores: 2 } });
    expect(handle).toBeInstanceOf(TaskHandle);
    expect(server.tasks.get(handle.id)).toMatchObject({ functionId, endpointId, args: [1, 2], kwargs: { k: 'v' } });
    expect(server.requestsTo('POST', '/v1/tasks').at(-1)!.body).toMatchObject({ resources: { cores: 2 } });
    server.finish(handle.id, { status: 'success', result: 3 });
    await expect(handle.result({ timeoutMs: 5_000 })).resolves.toBe(3);
  });

  it('sends the same request as run, with kwargs {} when none are given', async () => {
    await client.run(functionId, endpointId, [1]);
    await client.submit(functionId, endpointId, [1]);
    const [byRun, bySubmit] = server.requestsTo('POST', '/v1/tasks').map((r) => r.body);
    expect(bySubmit).toEqual(byRun);
  });

  it('refuses bad input before sending, as run does', async () => {
    await expect(client.submit('add@0', endpointId)).rejects.toBeInstanceOf(ValidationError);
    await expect(client.submit(functionId, endpointId, [NaN])).rejects.toMatchObject({ name: 'SerializationError', path: 'args[0]' });
    expect(server.requests).toHaveLength(0);
  });
});

describe('priority', () => {
  it('sends a task’s priority, a batch’s (items may override it) and the executor’s, and refuses one outside 0–9 before sending', async () => {
    await client.run(functionId, endpointId, [1], {}, { priority: 9 });
    expect(server.requestsTo('POST', '/v1/tasks').at(-1)!.body).toMatchObject({ priority: 9 });
    await client.runBatch(endpointId, [{ functionId }, { functionId, priority: 0 }], { priority: 7 });
    expect(server.requestsTo('POST', '/v1/tasks/batch').at(-1)!.body).toMatchObject({ priority: 7, tasks: [{ functionId }, { functionId, priority: 0 }] });
    const before = server.requests.length;
    await expect(client.run(functionId, endpointId, [], {}, { priority: 10 })).rejects.toBeInstanceOf(ValidationError);
    await expect(client.runBatch(endpointId, [{ functionId }], { priority: 1.5 })).rejects.toBeInstanceOf(ValidationError);
    await expect(client.runBatch(endpointId, [{ functionId, priority: -1 }])).rejects.toMatchObject({ message: expect.stringContaining('batch item 0') });
    expect(server.requests).toHaveLength(before);
  });
});

describe('task handle', () => {
  it('describes the task, and its result follows the outcome', async () => {
    const handle = await client.submit(functionId, endpointId, [7]);
    expect(await handle.describe()).toMatchObject({ id: handle.id, status: 'received', args: [7] });
    const output = { stdout: 'working\n', stderr: 'warning\n' };
    server.finish(handle.id, { status: 'failed', error: { code: 'TASK_ERROR', name: 'RangeError', message: 'no good' }, output });
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskFailedError);
    expect(err).toMatchObject({ taskId: handle.id, remoteName: 'RangeError', remoteMessage: 'no good', output });
    expect(await handle.describe()).toMatchObject({ status: 'failed', error: { name: 'RangeError' } });
  });

  it('cancels the task; its result is then TaskCancelledError, and a second cancel changes nothing', async () => {
    const handle = client.task(await client.run(functionId, endpointId));
    await expect(handle.cancel()).resolves.toEqual({ taskId: handle.id, status: 'cancelled', cancelled: true });
    await expect(handle.result()).rejects.toBeInstanceOf(TaskCancelledError);
    await expect(handle.cancel()).resolves.toEqual({ taskId: handle.id, status: 'cancelled', cancelled: false });
  });

  it('makes no request, and a task the server does not show you fails each call with NotFoundError', async () => {
    const handle = client.task(randomUUID());
    expect(server.requests).toHaveLength(0);
    await expect(handle.describe()).rejects.toBeInstanceOf(NotFoundError);
    await expect(handle.cancel()).rejects.toBeInstanceOf(NotFoundError);
    await expect(handle.result({ timeoutMs: 5_000 })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses an id that is not a task id at once', () => {
    expect(() => client.task('nope')).toThrow(ValidationError);
    expect(server.requests).toHaveLength(0);
  });

  it('fails with CLIENT_CLOSED once its client is closed', async () => {
    const handle = client.task(server.addTask());
    client.close();
    await expect(handle.describe()).rejects.toMatchObject({ name: 'ConnectionError', code: 'CLIENT_CLOSED' });
    await expect(handle.result()).rejects.toBeInstanceOf(ConnectionError);
  });

  it('shows only its id when logged or serialised', () => {
    const id = randomUUID();
    expect(JSON.stringify(client.task(id))).toBe(JSON.stringify({ id }));
  });
});
