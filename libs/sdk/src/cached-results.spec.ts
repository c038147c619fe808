import { randomUUID } from 'node:crypto';
import { PROTOCOL_VERSION, type CachedOutcome } from '@fx/protocol';
import { FakeFxServer, GOOD_TOKEN } from './__fixtures__/fake-fx-server.js';
import { Client } from './client.js';

const [endpointId, functionId] = [randomUUID(), randomUUID()];

/** A client with a result LRU of one, against a fake server that answers over REST (no submit frames). */
async function withClient(run: (server: FakeFxServer, client: Client) => Promise<void>): Promise<void> {
  const server = await new FakeFxServer().start();
  const client = new Client({ url: server.url, token: GOOD_TOKEN, maxRetries: 0, resultCacheSize: 1 });
  try {
    await run(server, client);
  } finally {
    client.close();
    await server.stop();
  }
}

describe("a batch answer's cache hits (cachedResults)", () => {
  it('resolves the hits from the answer, subscribes only the rest, and takes a duplicate frame calmly', () =>
    withClient(async (server, client) => {
      const hits = [randomUUID(), randomUUID(), randomUUID()];
      const fresh = server.addTask({ status: 'success', result: 'ran' });
      const cachedResults: CachedOutcome[] = hits.map((taskId, i) => ({ taskId, status: 'success', result: i, cached: true, cachedFrom: randomUUID() }));
      server.override = (req) =>
        req.method === 'POST' && req.path === '/v1/tasks/batch'
          ? { status: 201, body: { batchId: randomUUID(), taskIds: [...hits, fresh], cachedResults } }
          : undefined;
      const ids = await client.runBatch(
        endpointId,
        [0, 1, 2, 3].map((i) => ({ functionId, args: [i] })),
      );
      expect(ids).toEqual([...hits, fresh]);
      // more hits than the result LRU holds (1): all resolve, without a subscription
      const got = new Map<string, unknown>();
      for await (const o of client.results(ids, { timeoutMs: 5_000 })) got.set(o.taskId, o.cached ? ['cached', o.result] : o.result);
      expect(ids.map((id) => got.get(id))).toEqual([['cached', 0], ['cached', 1], ['cached', 2], 'ran']);
      expect(server.subscribeFrames.flat()).toEqual([fresh]);
      // a result frame for a hit already resolved (a server that relayed it anyway) resolves nothing twice
      const frames = server.subscribeFrames.length;
      server.sendRaw({ v: PROTOCOL_VERSION, type: 'result', payload: { results: [{ ...cachedResults[0], result: 'again' }] } });
      await new Promise((r) => setTimeout(r, 50));
      expect(got.get(hits[0]!)).toEqual(['cached', 0]);
      await expect(client.getResult(hits[0]!)).resolves.toBe('again');
      expect(server.subscribeFrames).toHaveLength(frames);
    }));

  it('works as before with a server whose answer has no cachedResults', () =>
    withClient(async (server, client) => {
      const done = server.addTask({ status: 'success', result: 7 });
      server.override = (req) =>
        req.method === 'POST' && req.path === '/v1/tasks/batch' ? { status: 201, body: { batchId: randomUUID(), taskIds: [done] } } : undefined;
      const ids = await client.runBatch(endpointId, [{ functionId, args: [] }]);
      await expect(client.getResults(ids, { timeoutMs: 5_000 })).resolves.toEqual([7]);
      expect(server.subscribeFrames.flat()).toEqual([done]);
    }));
});
