import { jest } from '@jest/globals';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually } from '@fx/testing';

/**
 * Issue 11 item 3: the default store (no DATABASE_URL, no REDIS_URL) serves a real day's work. A
 * 10,000-task batch runs to the end on the embedded store while the console's reads go on, and the
 * agent keeps its first connection throughout: PGlite on the server's event loop used to starve the
 * heartbeats and drop it. Timings live in `npm run bench -- --only store`, not here.
 */
jest.setTimeout(600_000);

const N = 10_000;

describe('the embedded default under a 10,000-task batch', () => {
  let server: ServerProcess;
  let endpoint: EndpointProcess;
  let client: Client;

  beforeAll(async () => {
    server = await ServerProcess.start('embedded');
    endpoint = await EndpointProcess.configure(server, 'busy');
    endpoint.start();
    client = new Client({ url: server.url, token: server.adminToken });
  });
  afterAll(async () => {
    client?.close();
    await endpoint?.stop();
    await server?.stop();
  });

  const connectedAt = () => endpoint.connectedAt();

  it('runs every task, answers reads meanwhile, and never drops the agent', async () => {
    expect(((await (await fetch(`${server.url}/readyz`)).json()) as { database: { kind: string } }).database.kind).toBe('embedded-postgres');
    const fn = await client.registerFunction((i: number) => i * 2, { name: 'double' });
    const first = await eventually(connectedAt, 60_000, 'the agent connected');

    const seen: (string | undefined)[] = [];
    let reads = 0;
    let running = true;
    const watcher = (async () => {
      while (running) {
        seen.push(await connectedAt());
        const res = await fetch(`${server.url}/v1/tasks?limit=50`, { headers: { authorization: `Bearer ${server.adminToken}` } });
        expect(res.status).toBe(200);
        reads++;
        await new Promise((r) => setTimeout(r, 250));
      }
    })();

    const ids = await client.runBatch(
      endpoint.endpointId,
      Array.from({ length: N }, (_, i) => ({ functionId: fn, args: [i] })),
    );
    const results = await client.getResults<number>(ids, { timeoutMs: 480_000 });
    running = false;
    await watcher;

    expect(results).toHaveLength(N);
    expect(results.every((r, i) => r === i * 2)).toBe(true);
    expect(reads).toBeGreaterThan(0);
    // Every sample shows the agent on the connection it had before the batch.
    expect(seen.filter((c) => c !== first)).toEqual([]);
    expect(endpoint.log()).not.toMatch(/disconnected|reconnect/i);
  });
});
