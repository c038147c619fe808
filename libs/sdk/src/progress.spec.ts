import { randomUUID } from 'node:crypto';
import { FakeFxServer, GOOD_TOKEN } from './__fixtures__/fake-fx-server.js';
import { Client } from './client.js';
import type { Progress } from './result-stream.js';

let server: FakeFxServer;
let client: Client;
const endpointId = randomUUID();
const functionId = randomUUID();
const failure = { code: 'TASK_ERROR' as const, name: 'Error', message: 'boom' };

beforeEach(async () => {
  server = await new FakeFxServer().start();
  client = new Client({ url: server.url, token: GOOD_TOKEN, maxRetries: 0 });
});
afterEach(async () => {
  client.close();
  await server.stop();
});

describe('onProgress', () => {
  it('results reports done 0 first, then each outcome as it arrives, counting failed and cancelled', async () => {
    const ids = [server.addTask({ status: 'success', result: 1 }), server.addTask(), server.addTask()];
    const seen: Progress[] = [];
    const stream = client.results([...ids, ids[0]!], { onProgress: (p) => seen.push(p) });
    const first = await stream.next();
    expect(first.value).toMatchObject({ taskId: ids[0], status: 'success' });
    expect(seen).toEqual([
      { done: 0, failed: 0, total: 3 },
      { done: 1, failed: 0, total: 3 },
    ]);
    server.finish(ids[1]!, { status: 'failed', error: failure });
    server.finish(ids[2]!, { status: 'cancelled' });
    for await (const _ of stream) {
      // drain
    }
    expect(seen.slice(2)).toEqual([
      { done: 2, failed: 1, total: 3 },
      { done: 3, failed: 2, total: 3 },
    ]);
  });

  it('getResults reports progress up to the total', async () => {
    const ids = [server.addTask(), server.addTask()];
    const seen: Progress[] = [];
    const wait = client.getResults(ids, { onProgress: (p) => seen.push(p) });
    await server.waitForSubscribeFrames(1);
    for (const id of ids) server.finish(id, { status: 'success', result: id });
    await expect(wait).resolves.toEqual(ids);
    expect(seen[0]).toEqual({ done: 0, failed: 0, total: 2 });
    expect(seen.at(-1)).toEqual({ done: 2, failed: 0, total: 2 });
  });

  it('a callback that throws ends the wait with its error', async () => {
    const id = server.addTask({ status: 'success', result: 1 });
    let calls = 0;
    const onProgress = () => {
      if (++calls === 2) throw new Error('bar broke');
    };
    await expect(client.getResults([id], { onProgress })).rejects.toThrow('bar broke');
  });

  it('runBatch hands over each batch id as accepted and reports result progress in the background', async () => {
    server.onTaskCreated = (t) => setTimeout(() => server.finish(t.id, { status: 'success', result: t.args[0] }), 5);
    const accepted: Array<{ batchId: string; taskIds: string[] }> = [];
    const seen: Progress[] = [];
    const finished = new Promise<void>((resolve) => {
      void client
        .runBatch(
          endpointId,
          Array.from({ length: 5 }, (_, i) => ({ functionId, args: [i] })),
          {
            onAccepted: (a) => accepted.push(a),
            onProgress: (p) => {
              seen.push(p);
              if (p.done === p.total) resolve();
            },
          },
        )
        .then((ids) => expect(accepted).toEqual([{ batchId: expect.any(String), taskIds: ids }]));
    });
    await finished;
    expect(seen[0]).toEqual({ done: 0, failed: 0, total: 5 });
    expect(seen.at(-1)).toEqual({ done: 5, failed: 0, total: 5 });
    expect(seen.map((p) => p.done)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('listTasks', () => {
  it('sends the query (status as a comma list) and returns one page with its cursor', async () => {
    server.onTaskCreated = undefined;
    const ids = await client.runBatch(
      endpointId,
      Array.from({ length: 5 }, () => ({ functionId })),
    );
    const batchId = server.tasks.get(ids[0]!)!.batchId!;
    const first = await client.listTasks({ batchId, status: ['received', 'running'], limit: 3 });
    expect(server.taskQueries[0]!.get('status')).toBe('received,running');
    expect(server.taskQueries[0]!.get('batchId')).toBe(batchId);
    expect(first.items).toHaveLength(3);
    expect(first.nextCursor).not.toBeNull();
    const second = await client.listTasks({ batchId, limit: 3, cursor: first.nextCursor! });
    expect(second.nextCursor).toBeNull();
    expect([...first.items, ...second.items].map((t) => t.id).sort()).toEqual([...ids].sort());
  });

  it('refuses a bad query before sending it', async () => {
    await expect(client.listTasks({ limit: 5000 })).rejects.toMatchObject({ name: 'ValidationError' });
    expect(server.taskQueries).toHaveLength(0);
  });
});
