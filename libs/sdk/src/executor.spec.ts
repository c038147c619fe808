import { randomUUID } from 'node:crypto';
import { FakeFxServer, GOOD_TOKEN, type FakeTask } from './__fixtures__/fake-fx-server.js';
import { Client } from './client.js';
import { FxError, TaskFailedError } from './errors.js';

let server: FakeFxServer;
let client: Client;
const endpointId = randomUUID();

/** Plays the endpoint: evaluates the registered JS source with the task's args. */
function runLikeAnEndpoint(task: FakeTask): void {
  const fn = server.functions.get(task.functionId);
  try {
    const value = new Function(`return (${fn!.source})`)()(...task.args);
    server.finish(task.id, { status: 'success', result: value });
  } catch (err) {
    const e = err as Error;
    server.finish(task.id, { status: 'failed', error: { code: 'TASK_ERROR', name: e.name, message: e.message, stack: e.stack } });
  }
}

beforeEach(async () => {
  server = await new FakeFxServer().start();
  server.onTaskCreated = runLikeAnEndpoint;
  client = new Client({ url: server.url, token: GOOD_TOKEN });
});
afterEach(async () => {
  client.close();
  await server.stop();
});

describe('Executor', () => {
  it('sends everything submitted in one tick as one batch and registers each function once', async () => {
    const ex = client.executor(endpointId);
    const double = (x: number) => x * 2;
    const add = (a: number, b: number) => a + b;
    const results = Promise.all([ex.submit(double, 21), ex.submit(add, 1, 2), ex.submit(double, 5), ex.submit(add, 3, 4), ex.submit(double, 0)]);
    await expect(results).resolves.toEqual([42, 3, 10, 7, 0]);

    expect(server.requestsTo('POST', '/v1/functions')).toHaveLength(2);
    const batches = server.requestsTo('POST', '/v1/tasks/batch');
    expect(batches).toHaveLength(1);
    expect((batches[0]!.body as { tasks: unknown[] }).tasks).toHaveLength(5);
    expect(server.requestsTo('POST', '/v1/tasks')).toHaveLength(0);

    // A later tick: a new batch, but the function is not registered again.
    await expect(ex.submit(double, 50)).resolves.toBe(100);
    expect(server.requestsTo('POST', '/v1/functions')).toHaveLength(2);
    expect(server.requestsTo('POST', '/v1/tasks/batch')).toHaveLength(2);
    await ex.close();
  });

  it('rejects with TaskFailedError when the function throws remotely', async () => {
    const ex = client.executor(endpointId);
    const err = await ex
      .submit((x: number) => {
        if (x > 1) throw new RangeError(`x too big: ${x}`);
        return x;
      }, 5)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskFailedError);
    expect(err).toMatchObject({ remoteName: 'RangeError', remoteMessage: 'x too big: 5' });
  });

  it('runs an already registered function by id', async () => {
    const id = await client.registerFunction((s: string) => s.toUpperCase(), { name: 'upper' });
    const ex = client.executor(endpointId);
    await expect(ex.submit<string>(id, 'hi')).resolves.toBe('HI');
    expect(server.requestsTo('POST', '/v1/functions')).toHaveLength(1);
  });

  it('reuses the function another executor registered under the same name', async () => {
    const square = (x: number) => x * x;
    await expect(client.executor(endpointId).submit(square, 3)).resolves.toBe(9);
    await expect(client.executor(endpointId).submit(square, 4)).resolves.toBe(16);
    expect(server.requestsTo('POST', '/v1/functions')).toHaveLength(2);
    expect(server.functions.size).toBe(1);
  });

  it('close() refuses new work but lets submitted work finish', async () => {
    const ex = client.executor(endpointId);
    const pending = ex.submit((x: number) => x + 1, 1);
    const closed = ex.close();
    const refused = await ex.submit((x: number) => x, 1).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(FxError);
    expect(refused).toMatchObject({ code: 'CLIENT_CLOSED' });
    await expect(pending).resolves.toBe(2);
    await expect(closed).resolves.toBeUndefined();
  });
});
