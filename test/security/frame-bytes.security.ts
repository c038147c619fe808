import { jest } from '@jest/globals';
import { Client } from '@fx/sdk';
import { DEFAULT_LIMITS, ServerToEndpointSchemas, parseFrame } from '@fx/protocol';
import { ProtocolPeer } from '../../apps/server/src/testing/protocol-peer.js';
import { rest } from '../../apps/server/src/testing/test-server.js';
import { EndpointProcess, ServerProcess, eventually, type Backend } from '@fx/testing';

/**
 * Issue 10, item 3: frames to agents are packed by bytes as well as by count, and a function's source
 * travels once per agent connection. 100 tasks of a function with 1 MB of source, and 8 tasks with
 * 9 MB of arguments queued while their endpoint was offline, all succeed on a real agent (before,
 * their frames passed the agent's 64 MiB limit and the tasks failed MAX_ATTEMPTS_EXCEEDED); a raw
 * protocol peer sees the source once and every frame under the byte budget.
 */
jest.setTimeout(240_000);

const MB = 1024 * 1024;
const BIG_SOURCE = `(x) => { /* ${'s'.repeat(MB - 100)} */ return x * 2; }`;
const FRAME_BUDGET = DEFAULT_LIMITS.maxFrameBytes / 2;

describe.each(['embedded', 'postgres+redis'] as Backend[])('frames by bytes (%s)', (backend) => {
  let server: ServerProcess;
  let client: Client;

  beforeAll(async () => {
    server = await ServerProcess.start(backend, { FX_LOG_LEVEL: 'warn', FX_RATE_LIMIT_PER_SECOND: '0' });
    client = new Client({ url: server.url, token: server.adminToken });
  });

  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  it('the source of a function goes once per connection, and no frame passes the byte budget', async () => {
    const api = rest(server.url, server.adminToken);
    const ep = (await api('POST', '/v1/endpoints', { name: 'raw-peer' })).body;
    const fn = await client.createFunction({ name: 'big-source-peer', runtime: 'js', source: BIG_SOURCE });
    const ids = await client.runBatch(
      ep.endpoint.id,
      Array.from({ length: 100 }, (_, i) => ({ functionId: fn.id, args: [i] })),
    );
    const nine = 'n'.repeat(9 * MB);
    for (let i = 0; i < 4; i++) ids.push(await client.run(fn.id, ep.endpoint.id, [nine]));

    const peer = await ProtocolPeer.connect(server.url, ep.token);
    const sizes: number[] = [];
    peer.ws.on('message', (d: Buffer) => {
      if (parseFrame(ServerToEndpointSchemas, d).type === 'tasks') sizes.push(d.length);
    });
    peer.hello();
    await peer.next('welcome');
    peer.send('credits', { credits: 200 });
    const frames = [];
    let got = 0;
    while (got < ids.length) {
      const f = await peer.next('tasks', 30_000);
      frames.push(f.payload);
      got += f.payload.tasks.length;
    }
    expect(got).toBe(ids.length);
    // the 1 MB source travelled in one frame only, and each task names the function by id
    expect(frames.flatMap((f) => f.functions).map((f) => f.id)).toEqual([fn.id]);
    expect(frames.flatMap((f) => f.tasks).every((t) => t.functionId === fn.id && t.ownerId !== undefined)).toBe(true);
    await eventually(async () => sizes.length === frames.length, 30_000, 'frame sizes counted');
    // 104 tasks: ~1 MB of source once and 36 MB of args, never more than the budget in one frame
    expect(Math.max(...sizes)).toBeLessThanOrEqual(FRAME_BUDGET);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThan(40 * MB);
    peer.close();
  });

  it('100 tasks of a function with 1 MB of source all succeed on a real agent', async () => {
    const endpoint = await EndpointProcess.configure(server, `big-source-${backend.replace('+', '-')}`, { workers: 2 });
    try {
      endpoint.start();
      await eventually(async () => (await client.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online');
      const fn = await client.createFunction({ name: 'big-source', runtime: 'js', source: BIG_SOURCE });
      const ids = await client.runBatch(
        endpoint.endpointId,
        Array.from({ length: 100 }, (_, i) => ({ functionId: fn.id, args: [i] })),
      );
      expect(await client.getResults(ids, { timeoutMs: 120_000 })).toEqual(Array.from({ length: 100 }, (_, i) => i * 2));
    } catch (e) {
      throw new Error(`${(e as Error).message}\nagent log:\n${endpoint.log()}\nserver log:\n${server.log()}`, { cause: e });
    } finally {
      await endpoint.stop();
    }
  });

  it('8 tasks with 9 MB of arguments, queued while the endpoint was offline, all succeed once it starts', async () => {
    const endpoint = await EndpointProcess.configure(server, `big-args-${backend.replace('+', '-')}`, { workers: 2 });
    try {
      const fn = await client.createFunction({ name: 'length', runtime: 'js', source: '(s) => s.length' });
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) ids.push(await client.run(fn.id, endpoint.endpointId, [String(i).repeat(9 * MB)]));
      endpoint.start();
      expect(await client.getResults(ids, { timeoutMs: 120_000 })).toEqual(Array(8).fill(9 * MB));
      const infos = await Promise.all(ids.map((id) => client.getTask(id)));
      // each went out once: nothing lost its agent on the way
      expect(infos.map((t) => t.attempt)).toEqual(Array(8).fill(0));
    } catch (e) {
      throw new Error(`${(e as Error).message}\nagent log:\n${endpoint.log()}\nserver log:\n${server.log()}`, { cause: e });
    } finally {
      await endpoint.stop();
    }
  });
});
