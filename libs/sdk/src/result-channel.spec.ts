import { randomUUID } from 'node:crypto';
import type { TaskOutcome } from '@fx/protocol';
import { FakeFxServer, GOOD_TOKEN } from './__fixtures__/fake-fx-server.js';
import { Client } from './client.js';
import type { ClientOptions } from './client.options.js';
import { AuthenticationError, ConnectionError, FxError, NotFoundError, ServerError, TaskCancelledError, TaskFailedError, TimeoutError } from './errors.js';

let server: FakeFxServer;
let client: Client;

function newClient(options: Partial<ClientOptions> = {}): Client {
  return new Client({ url: server.url, token: GOOD_TOKEN, reconnectBaseDelayMs: 5, reconnectMaxDelayMs: 20, ...options });
}

beforeEach(async () => {
  server = await new FakeFxServer().start();
  client = newClient();
});
afterEach(async () => {
  client.close();
  await server.stop();
});

describe('getResult', () => {
  it('resolves with a result that arrives after subscribing', async () => {
    const taskId = server.addTask();
    const result = client.getResult<number>(taskId);
    await server.waitForSubscribeFrames(1);
    server.finish(taskId, { status: 'success', result: 3 });
    await expect(result).resolves.toBe(3);
    expect(server.subscribeFrames).toEqual([[taskId]]);
  });

  it('resolves with a result that was already final when subscribing', async () => {
    const taskId = server.addTask({ status: 'success', result: { sum: 3 } });
    await expect(client.getResult(taskId)).resolves.toEqual({ sum: 3 });
  });

  it('throws TaskFailedError carrying the remote code, name, message and stack', async () => {
    const stack = 'TypeError: x is not a function\n    at remote.js:1:1';
    const taskId = server.addTask({
      status: 'failed',
      error: { code: 'TASK_ERROR', name: 'TypeError', message: 'x is not a function', stack },
    });
    const err = (await client.getResult(taskId).catch((e: unknown) => e)) as TaskFailedError;
    expect(err).toBeInstanceOf(TaskFailedError);
    expect(err).toBeInstanceOf(FxError);
    expect(err).toMatchObject({
      name: 'TaskFailedError',
      code: 'TASK_ERROR',
      taskId,
      remoteName: 'TypeError',
      remoteMessage: 'x is not a function',
      remoteStack: stack,
    });
    expect(err.message).toContain('x is not a function');
    expect(err.stack).toContain('at remote.js:1:1');
  });

  it('throws TaskFailedError with the failure code for agent-side failures', async () => {
    const taskId = server.addTask({ status: 'failed', error: { code: 'WALLTIME_EXCEEDED', name: 'WalltimeExceeded', message: 'ran past 10 s' } });
    await expect(client.getResult(taskId)).rejects.toMatchObject({ code: 'WALLTIME_EXCEEDED', remoteStack: undefined });
  });

  it('throws TaskCancelledError for a cancelled task', async () => {
    const taskId = server.addTask();
    const result = client.getResult(taskId).catch((e: unknown) => e);
    await server.waitForSubscribeFrames(1);
    await client.cancel(taskId);
    const err = await result;
    expect(err).toBeInstanceOf(TaskCancelledError);
    expect(err).toMatchObject({ code: 'TASK_CANCELLED', taskId });
  });

  it('throws TimeoutError when the task does not finish in time, and unsubscribes', async () => {
    // Open the socket first, so the subscription is on the wire before the timeout can fire.
    await client.getResult(server.addTask({ status: 'success', result: 0 }));
    const taskId = server.addTask();
    await expect(client.getResult(taskId, { timeoutMs: 30 })).rejects.toBeInstanceOf(TimeoutError);
    // The unsubscribe rides the same socket as later frames, so it has arrived once a later subscribe has.
    const other = server.addTask({ status: 'success', result: 1 });
    await client.getResult(other);
    expect(server.unsubscribeFrames).toEqual([[taskId]]);
  });

  it('rejects with the signal reason when aborted', async () => {
    const taskId = server.addTask();
    const controller = new AbortController();
    const result = client.getResult(taskId, { signal: controller.signal });
    const reason = new Error('enough');
    controller.abort(reason);
    await expect(result).rejects.toBe(reason);
  });

  it('throws NotFoundError for a task the server does not show', async () => {
    const err = await client.getResult(randomUUID()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
  });

  it('delivers the readable outcomes of a frame and fails the waiter of an unreadable one', async () => {
    const good = server.addTask();
    const bad = server.addTask();
    const results = Promise.allSettled([client.getResult(good), client.getResult(bad)]);
    await server.waitForSubscribeFrames(1);
    server.sendRaw({
      v: 1,
      type: 'result',
      payload: {
        results: [
          { taskId: good, status: 'success', result: 'ok' },
          { taskId: bad, status: 'exploded' },
        ],
      },
    });
    const [g, b] = await results;
    expect(g).toEqual({ status: 'fulfilled', value: 'ok' });
    expect(b.status === 'rejected' && b.reason).toBeInstanceOf(ServerError);
    expect(b.status === 'rejected' && b.reason).toMatchObject({ code: 'BAD_RESPONSE' });
  });

  it('serves a second wait on a finished task from the cache, without another subscription', async () => {
    const taskId = server.addTask({ status: 'success', result: 'once' });
    await expect(client.getResult(taskId)).resolves.toBe('once');
    await expect(client.getResult(taskId)).resolves.toBe('once');
    expect(server.subscribeFrames).toHaveLength(1);
  });

  it('shares one socket and one subscribe frame among waits started together', async () => {
    const ids = [server.addTask({ status: 'success', result: 1 }), server.addTask({ status: 'success', result: 2 })];
    await expect(Promise.all([client.getResult(ids[0]!), client.getResult(ids[1]!), client.getResult(ids[0]!)])).resolves.toEqual([1, 2, 1]);
    expect(server.connections).toBe(1);
    expect(server.subscribeFrames).toEqual([ids]);
  });

  it('fails waits with AuthenticationError when the socket is refused with 401', async () => {
    const taskId = server.addTask();
    server.refuseUpgrades = 401;
    await expect(client.getResult(taskId)).rejects.toBeInstanceOf(AuthenticationError);
  });

  it('fails pending waits with ConnectionError CLIENT_CLOSED on close', async () => {
    const taskId = server.addTask();
    const result = client.getResult(taskId);
    await server.waitForSubscribeFrames(1);
    client.close();
    const err = await result.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toMatchObject({ code: 'CLIENT_CLOSED' });
    await expect(client.getResult(taskId)).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
  });
});

describe('reconnects', () => {
  it('re-subscribes what is still awaited, loses no result and delivers none twice', async () => {
    const [a, b, c] = [server.addTask(), server.addTask(), server.addTask()];
    const stream = client.results([a!, b!, c!]);
    const first = stream.next();
    await server.waitForSubscribeFrames(1);
    server.finish(a!, { status: 'success', result: 'a' });
    const seen: TaskOutcome[] = [(await first).value as TaskOutcome];
    const consumed = (async () => {
      for await (const o of stream) seen.push(o);
    })();

    // Cut the socket and finish `b` in the same tick: its push goes to a dead socket, so only the
    // re-subscription can bring it.
    server.dropClients();
    server.finish(b!, { status: 'success', result: 'b' });

    await server.waitForSubscribeFrames(2);
    expect(new Set(server.subscribeFrames[1])).toEqual(new Set([b, c]));
    // A relay repeating itself (as happens across replicas and reconnects) must not show through.
    server.push([{ taskId: b!, status: 'success', result: 'b' }]);
    server.finish(c!, { status: 'success', result: 'c' });
    server.push([{ taskId: c!, status: 'success', result: 'c' }]);
    await consumed;

    expect(seen.map((o) => o.result).sort()).toEqual(['a', 'b', 'c']);
    expect(server.connections).toBeGreaterThanOrEqual(2);
  });

  it('keeps retrying while the server refuses the socket with 503', async () => {
    const taskId = server.addTask({ status: 'success', result: 'late' });
    server.refuseUpgrades = 503;
    const result = client.getResult(taskId);
    await server.waitForUpgradeAttempts(3);
    server.refuseUpgrades = undefined;
    await expect(result).resolves.toBe('late');
  });

  it('keeps a plain getResult alive across a dropped connection', async () => {
    const taskId = server.addTask();
    const result = client.getResult(taskId);
    await server.waitForSubscribeFrames(1);
    server.dropClients();
    await server.waitForSubscribeFrames(2);
    server.finish(taskId, { status: 'success', result: 42 });
    await expect(result).resolves.toBe(42);
  });
});

describe('results() streaming', () => {
  it('yields each of 1,000 tasks once as they finish, some final before subscribing', async () => {
    const ids = Array.from({ length: 1000 }, (_, i) => (i % 3 === 0 ? server.addTask({ status: 'success', result: i }) : server.addTask()));
    const expected = new Map(ids.map((id, i) => [id, i]));
    const got = new Map<string, unknown>();
    const consumed = (async () => {
      for await (const o of client.results(ids)) {
        expect(got.has(o.taskId)).toBe(false);
        got.set(o.taskId, o.status === 'success' ? o.result : o.status);
      }
    })();
    await server.waitForSubscribeFrames(1);
    // The rest finish in frames of many, out of order, with some repeats.
    const pending = ids.filter((_, i) => i % 3 !== 0).reverse();
    for (let i = 0; i < pending.length; i += 97) {
      const slice = pending.slice(i, i + 97);
      for (const id of slice) server.tasks.get(id)!.outcome = { taskId: id, status: 'success', result: expected.get(id) };
      server.push(slice.map((id) => server.tasks.get(id)!.outcome!));
      server.push(slice.slice(0, 3).map((id) => server.tasks.get(id)!.outcome!));
    }
    await consumed;

    expect(got.size).toBe(1000);
    for (const [id, i] of expected) expect(got.get(id)).toBe(i);
    expect(server.subscribeFrames).toHaveLength(1);
    expect(server.subscribeFrames[0]).toHaveLength(1000);
  });

  it('yields failed and cancelled tasks as outcomes rather than throwing', async () => {
    const ids = [server.addTask({ status: 'failed', error: { code: 'TASK_ERROR', name: 'Error', message: 'no' } }), server.addTask({ status: 'cancelled' })];
    const statuses: string[] = [];
    for await (const o of client.results(ids)) statuses.push(o.status);
    expect(statuses.sort()).toEqual(['cancelled', 'failed']);
  });

  it('stops the subscription of the rest when the loop breaks early', async () => {
    const ids = [server.addTask({ status: 'success', result: 1 }), server.addTask()];
    for await (const o of client.results(ids)) {
      expect(o.taskId).toBe(ids[0]);
      break;
    }
    await client.getResult(server.addTask({ status: 'success', result: 2 }));
    expect(server.unsubscribeFrames).toEqual([[ids[1]]]);
  });

  it('throws TimeoutError from the stream after yielding what arrived', async () => {
    const ids = [server.addTask({ status: 'success', result: 1 }), server.addTask()];
    // Have the first outcome in hand (cached) however slow the socket is to open.
    await client.getResult(ids[0]!);
    const seen: unknown[] = [];
    const err = await (async () => {
      for await (const o of client.results(ids, { timeoutMs: 50 })) seen.push(o.result);
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(seen).toEqual([1]);
  });
});

describe('getResults', () => {
  it('returns results in the order asked, duplicates included', async () => {
    const a = server.addTask();
    const b = server.addTask({ status: 'success', result: 'b' });
    const all = client.getResults([a, b, a]);
    await server.waitForSubscribeFrames(1);
    server.finish(a, { status: 'success', result: 'a' });
    await expect(all).resolves.toEqual(['a', 'b', 'a']);
  });

  it('throws the first failure', async () => {
    const ok = server.addTask({ status: 'success', result: 1 });
    const bad = server.addTask({ status: 'failed', error: { code: 'TASK_ERROR', name: 'RangeError', message: 'too big' } });
    await expect(client.getResults([ok, bad])).rejects.toMatchObject({ name: 'TaskFailedError', remoteName: 'RangeError' });
  });
});
