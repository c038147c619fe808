import { randomUUID } from 'node:crypto';
import { FunctionInfo } from '@fx/protocol';
import { FakeFxServer, GOOD_TOKEN } from './__fixtures__/fake-fx-server.js';
import { Client } from './client.js';
import {
  AuthenticationError,
  ConflictError,
  ConnectionError,
  ForbiddenError,
  FxError,
  NotFoundError,
  PayloadTooLargeError,
  QuotaExceededError,
  RateLimitError,
  ServerError,
  TimeoutError,
  ValidationError,
} from './errors.js';
import { RestTransport } from './rest-transport.js';

let server: FakeFxServer;
beforeEach(async () => {
  server = await new FakeFxServer().start();
});
afterEach(async () => {
  await server.stop();
});

function transport(sleeps: number[] = [], overrides: Partial<ConstructorParameters<typeof RestTransport>[0]> = {}): RestTransport {
  return new RestTransport({
    baseUrl: server.url,
    token: GOOD_TOKEN,
    requestTimeoutMs: 5_000,
    maxRetries: 3,
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 30_000,
    fetch: globalThis.fetch,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...overrides,
  });
}

describe('error mapping', () => {
  const cases: Array<[number, string, new (...args: never[]) => FxError]> = [
    [400, 'VALIDATION_FAILED', ValidationError],
    [401, 'UNAUTHENTICATED', AuthenticationError],
    [403, 'FUNCTION_NOT_ALLOWED', ForbiddenError],
    [404, 'NOT_FOUND', NotFoundError],
    [409, 'CONFLICT', ConflictError],
    [413, 'BATCH_TOO_LARGE', PayloadTooLargeError],
    [429, 'RATE_LIMITED', RateLimitError],
    [500, 'INTERNAL', ServerError],
    [503, 'UNAVAILABLE', ServerError],
  ];

  it.each(cases)('HTTP %i becomes the matching error class with the body code and sentence', async (status, code, ErrorClass) => {
    server.override = () => ({ status, body: { code, message: `the server says ${status}`, details: { why: 'test' } } });
    const client = new Client({ url: server.url, token: GOOD_TOKEN, maxRetries: 0 });
    const err = await client.getFunction(randomUUID()).catch((e: unknown) => e);
    client.close();

    expect(err).toBeInstanceOf(ErrorClass);
    expect(err).toBeInstanceOf(FxError);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code, status, message: `the server says ${status}`, details: { why: 'test' }, name: ErrorClass.name });
  });

  it('maps a real 401 from a bad token', async () => {
    const client = new Client({ url: server.url, token: 'wrong' });
    await expect(client.listFunctions()).rejects.toBeInstanceOf(AuthenticationError);
    client.close();
  });

  it('keeps the status when the error body is not JSON', async () => {
    server.override = () => ({ status: 502, body: undefined, headers: { 'content-type': 'text/html' } });
    const err = await transport([], { maxRetries: 0 })
      .request({ method: 'GET', path: '/v1/functions' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ status: 502, code: 'INTERNAL' });
  });

  it('turns an unreachable server into a ConnectionError whose cause is the transport error', async () => {
    const url = server.url;
    await server.stop();
    const client = new Client({ url, token: GOOD_TOKEN, maxRetries: 0 });
    const err = (await client.listFunctions().catch((e: unknown) => e)) as ConnectionError;
    client.close();
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.code).toBe('CONNECTION_FAILED');
    expect((err.cause as Error).message).toBe('fetch failed');
    server = await new FakeFxServer().start(); // afterEach stops it
  });

  it('rejects a response that does not match the protocol with ServerError BAD_RESPONSE', async () => {
    server.override = () => ({ status: 200, body: { id: 'not-a-uuid' } });
    const err = await transport()
      .request({ method: 'GET', path: '/v1/functions/x', response: FunctionInfo })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ code: 'BAD_RESPONSE' });
  });
});

describe('retries', () => {
  it('retries 429 after the Retry-After the server asked for, then succeeds', async () => {
    let calls = 0;
    server.override = () => (++calls <= 2 ? { status: 429, body: { code: 'RATE_LIMITED', message: 'slow down' }, headers: { 'retry-after': '2' } } : undefined);
    const sleeps: number[] = [];
    const res = await transport(sleeps).request({
      method: 'POST',
      path: '/v1/functions',
      body: { name: 'f', runtime: 'js', source: '() => 1' },
      response: FunctionInfo,
    });
    expect(res.name).toBe('f');
    expect(sleeps).toEqual([2000, 2000]);
    expect(server.requestsTo('POST', '/v1/functions')).toHaveLength(3);
  });

  it('gives up with RateLimitError carrying retryAfterMs once retries are spent', async () => {
    server.override = () => ({ status: 429, body: { code: 'RATE_LIMITED', message: 'slow down' }, headers: { 'retry-after': '1' } });
    const sleeps: number[] = [];
    const err = (await transport(sleeps, { maxRetries: 2 })
      .request({ method: 'GET', path: '/v1/functions' })
      .catch((e: unknown) => e)) as RateLimitError;
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err.retryAfterMs).toBe(1000);
    expect(sleeps).toEqual([1000, 1000]);
    expect(server.requests).toHaveLength(3);
  });

  it('throws 429 QUOTA_EXCEEDED at once as QuotaExceededError: a quota frees up only as tasks finish', async () => {
    server.override = () => ({ status: 429, body: { code: 'QUOTA_EXCEEDED', message: 'you have 5 unfinished tasks' }, headers: { 'retry-after': '1' } });
    const sleeps: number[] = [];
    const err = (await transport(sleeps)
      .request({ method: 'POST', path: '/v1/tasks', body: {} })
      .catch((e: unknown) => e)) as QuotaExceededError;
    expect(err).toBeInstanceOf(QuotaExceededError);
    expect(err).not.toBeInstanceOf(RateLimitError);
    expect(err.code).toBe('QUOTA_EXCEEDED');
    expect(err.message).toBe('you have 5 unfinished tasks');
    expect(sleeps).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it('does not sit out a Retry-After longer than retryMaxDelayMs', async () => {
    server.override = () => ({ status: 429, body: { code: 'RATE_LIMITED', message: 'come back in an hour' }, headers: { 'retry-after': '3600' } });
    const sleeps: number[] = [];
    const err = (await transport(sleeps)
      .request({ method: 'GET', path: '/v1/functions' })
      .catch((e: unknown) => e)) as RateLimitError;
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err.retryAfterMs).toBe(3_600_000);
    expect(sleeps).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it('retries a POST on 503 (not accepted) but never on 500 (may have been accepted)', async () => {
    let calls = 0;
    server.override = () => (++calls === 1 ? { status: 503, body: { code: 'UNAVAILABLE', message: 'busy' } } : undefined);
    const body = { functionId: randomUUID(), endpointId: randomUUID() };
    await transport().request({ method: 'POST', path: '/v1/tasks', body });
    expect(server.requestsTo('POST', '/v1/tasks')).toHaveLength(2);

    server.override = () => ({ status: 500, body: { code: 'INTERNAL', message: 'boom' } });
    await expect(transport().request({ method: 'POST', path: '/v1/tasks', body })).rejects.toBeInstanceOf(ServerError);
    expect(server.requestsTo('POST', '/v1/tasks')).toHaveLength(3);
  });

  it('retries an idempotent GET on 500 and on network failures, with growing delays', async () => {
    let calls = 0;
    server.override = () => (++calls <= 2 ? { status: 500, body: { code: 'INTERNAL', message: 'boom' } } : undefined);
    const sleeps: number[] = [];
    await transport(sleeps, { retryBaseDelayMs: 100 }).request({ method: 'GET', path: '/v1/functions' });
    expect(server.requests).toHaveLength(3);
    expect(sleeps[0]).toBeGreaterThanOrEqual(50);
    expect(sleeps[0]).toBeLessThanOrEqual(100);
    expect(sleeps[1]).toBeGreaterThanOrEqual(100);
    expect(sleeps[1]).toBeLessThanOrEqual(200);

    let fetches = 0;
    const failing: typeof fetch = async () => {
      fetches++;
      throw new TypeError('fetch failed');
    };
    const err = await transport([], { fetch: failing, maxRetries: 2 })
      .request({ method: 'GET', path: '/v1/functions' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(fetches).toBe(3);
    fetches = 0;
    await expect(transport([], { fetch: failing, maxRetries: 2 }).request({ method: 'POST', path: '/v1/tasks', body: {} })).rejects.toBeInstanceOf(
      ConnectionError,
    );
    expect(fetches).toBe(1);
  });

  it('reports a request that got no answer in time as TimeoutError', async () => {
    const hanging: typeof fetch = (_url, init) =>
      new Promise((_resolve, reject) => init!.signal!.addEventListener('abort', () => reject(init!.signal!.reason)));
    const err = await transport([], { fetch: hanging, maxRetries: 0, requestTimeoutMs: 20 })
      .request({ method: 'GET', path: '/v1/functions' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
  });

  it('gives a caller abort back as-is and stops retrying', async () => {
    server.override = () => ({ status: 503, body: { code: 'UNAVAILABLE', message: 'busy' } });
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    const t = transport([], {
      sleep: async () => {
        controller.abort(reason);
        throw reason;
      },
    });
    await expect(t.request({ method: 'GET', path: '/v1/functions', signal: controller.signal })).rejects.toBe(reason);
    expect(server.requests).toHaveLength(1);
  });
});

describe('client-side validation', () => {
  it('refuses a bad uuid without a round trip', async () => {
    let fetches = 0;
    const counting: typeof fetch = (...args) => {
      fetches++;
      return fetch(...args);
    };
    const client = new Client({ url: server.url, token: GOOD_TOKEN, fetch: counting });
    await expect(client.getTask('nope')).rejects.toBeInstanceOf(ValidationError);
    await expect(client.run('not a name!', randomUUID())).rejects.toBeInstanceOf(ValidationError);
    await expect(client.getResult('nope')).rejects.toBeInstanceOf(ValidationError);
    await expect(client.registerShellFunction('echo hi', { name: 'has space' })).rejects.toBeInstanceOf(ValidationError);
    expect(fetches).toBe(0);
    expect(server.connections).toBe(0);
    client.close();
  });

  it('refuses a url that is not http(s)', () => {
    expect(() => new Client({ url: 'ftp://x', token: 't' })).toThrow(ValidationError);
    expect(() => new Client({ url: 'not a url', token: 't' })).toThrow(ValidationError);
  });
});
