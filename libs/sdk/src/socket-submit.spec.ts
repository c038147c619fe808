import { randomUUID } from 'node:crypto';
import { FakeFxServer, GOOD_TOKEN } from './__fixtures__/fake-fx-server.js';
import { Client } from './client.js';
import { ConnectionError, RateLimitError, ValidationError } from './errors.js';

const [endpointId, functionId] = [randomUUID(), randomUUID()];

describe('submitting over the client socket', () => {
  let server: FakeFxServer;
  let client: Client;
  beforeEach(async () => {
    server = await new FakeFxServer().start();
    server.acceptSubmits = true; // a server of issue 18 or later
    client = new Client({ url: server.url, token: GOOD_TOKEN, maxRetries: 0, reconnectBaseDelayMs: 5, reconnectMaxDelayMs: 20 });
  });
  afterEach(async () => {
    client.close();
    await server.stop();
  });

  it('sends run as a submit frame with the REST body, and no HTTP request', async () => {
    const taskId = await client.run(functionId, endpointId, [1, 2], { k: 'v' });
    expect(server.tasks.has(taskId)).toBe(true);
    expect(server.requests).toHaveLength(0);
    expect(server.submitFrames).toEqual([{ watch: true, task: { functionId, endpointId, args: [1, 2], kwargs: { k: 'v' } } }]);
  });

  it('gets the result of a run without a subscribe frame (the submit frame asked to watch it)', async () => {
    server.onTaskCreated = (t) => setTimeout(() => server.finish(t.id, { status: 'success', result: 42 }), 20);
    const taskId = await client.run(functionId, endpointId, []);
    await expect(client.getResult(taskId)).resolves.toBe(42);
    expect(server.subscribeFrames).toEqual([]);
    expect(server.connections).toBe(1);
  });

  it('keeps the process alive only while a result is awaited, as before submissions used the socket', async () => {
    // only referenced handles are listed: the client's TCP socket shows while something waits on it
    const tcpHandles = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const taskId = await client.run(functionId, endpointId, []);
    const idle = tcpHandles();
    const result = client.getResult(taskId);
    await new Promise((r) => setImmediate(r));
    expect(tcpHandles()).toBe(idle + 1);
    server.finish(taskId, { status: 'success', result: 1 });
    await expect(result).resolves.toBe(1);
    expect(tcpHandles()).toBe(idle);
  });

  it('gets a result that finished before the answer (pushed with it) without a subscribe frame', async () => {
    server.onTaskCreated = (t) => server.finish(t.id, { status: 'success', result: 'early' });
    const taskId = await client.run(functionId, endpointId, []);
    await expect(client.getResult(taskId)).resolves.toBe('early');
    expect(server.subscribeFrames).toEqual([]);
  });

  it('sends runBatch as submit frames, in order, keeping every id', async () => {
    const ids = await client.runBatch(endpointId, [
      { functionId, args: [1] },
      { functionId, args: [2] },
    ]);
    expect(ids).toHaveLength(2);
    for (const id of ids) expect(server.tasks.has(id)).toBe(true);
    expect(server.requests).toHaveLength(0);
    expect(server.submitFrames).toEqual([
      {
        watch: false,
        batch: {
          endpointId,
          tasks: [
            { functionId, args: [1] },
            { functionId, args: [2] },
          ],
        },
      },
    ]);
  });

  it('falls back to REST, once and for good, when the server has no submit frames', async () => {
    server.acceptSubmits = false;
    const first = await client.run(functionId, endpointId, []);
    const second = await client.run(functionId, endpointId, []);
    expect(server.tasks.size).toBe(2);
    expect([...server.tasks.keys()]).toEqual([first, second]);
    expect(server.requestsTo('POST', '/v1/tasks')).toHaveLength(2);
    expect(server.submitFrames).toHaveLength(1);
  });

  it('uses REST when the socket cannot be opened', async () => {
    server.refuseUpgrades = 503;
    const taskId = await client.run(functionId, endpointId, []);
    expect(server.tasks.has(taskId)).toBe(true);
    expect(server.requestsTo('POST', '/v1/tasks')).toHaveLength(1);
    expect(server.submitFrames).toHaveLength(0);
  });

  it('sends a body larger than a frame over REST', async () => {
    const big = 'x'.repeat(1024 * 1024);
    const taskId = await client.run(functionId, endpointId, [big]);
    expect(server.tasks.has(taskId)).toBe(true);
    expect(server.submitFrames).toHaveLength(0);
    expect(server.requestsTo('POST', '/v1/tasks')).toHaveLength(1);
  });

  it('never sends a submission twice when the socket drops before the answer: ConnectionError, one task', async () => {
    server.dropAfterNextSubmit = true;
    const err = await client.run(functionId, endpointId, []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).message).toMatch(/may or may not have been accepted/);
    expect(server.tasks.size).toBe(1);
    expect(server.requests).toHaveLength(0);
    // the next submission goes out on a fresh socket
    const next = await client.run(functionId, endpointId, []);
    expect(server.tasks.size).toBe(2);
    expect(server.tasks.has(next)).toBe(true);
  });

  it('maps a refused submission to the error REST would throw, and hands a rate limit to REST', async () => {
    await client.run(functionId, endpointId, []); // the socket is open
    // REST (which carries a RATE_LIMITED submission, with its own Retry-After handling) is limited too
    server.override = () => ({ status: 429, body: { code: 'RATE_LIMITED', message: 'slow down' }, headers: { 'retry-after': '1' } });
    server.refuseNextSubmit = { code: 'RATE_LIMITED', message: 'too many requests with this token; retry in 1 s' };
    const limited = await client.run(functionId, endpointId, []).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(RateLimitError);
    expect(server.requestsTo('POST', '/v1/tasks')).toHaveLength(1); // REST carried it, and REST's answer is thrown
    server.override = undefined;
    server.refuseNextSubmit = { code: 'VALIDATION_FAILED', message: 'invalid request body: nope' };
    const invalid = (await client.run(functionId, endpointId, []).catch((e: unknown) => e)) as ValidationError;
    expect(invalid).toBeInstanceOf(ValidationError);
    expect(invalid).toMatchObject({ code: 'VALIDATION_FAILED', status: 400, message: 'invalid request body: nope' });
    expect(server.requestsTo('POST', '/v1/tasks')).toHaveLength(1);
  });
});
