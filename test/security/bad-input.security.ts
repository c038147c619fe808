import { jest } from '@jest/globals';
import { ENDPOINT_PROTOCOL_VERSION } from '@fx/protocol';
import fc from 'fast-check';
import WebSocket from 'ws';
import { startTestServer, rest, type TestServer } from '../../apps/server/src/testing/test-server.js';

/**
 * Bad input (issue 5): hand-written cases for each kind of bad input, then a property-based pass
 * (fast-check) over REST bodies and websocket frames. Every answer is a 4xx with a code and a
 * sentence, never a 5xx, and the server is healthy afterwards.
 */
jest.setTimeout(240_000);

let server: TestServer;
let token: string;
let endpointToken: string;
let fnId: string;
let epId: string;
const MAX_BODY = 256 * 1024;

beforeAll(async () => {
  server = await startTestServer('postgres+redis', {
    FX_LOG_LEVEL: 'error',
    FX_RATE_LIMIT_PER_SECOND: '0',
    FX_MAX_REQUEST_BYTES: String(MAX_BODY),
    FX_MAX_FRAME_BYTES: String(MAX_BODY),
  });
  token = server.adminToken;
  const api = rest(server.url, token);
  fnId = (await api('POST', '/v1/functions', { name: 'f', runtime: 'js', source: '(x) => x' })).body.id;
  const ep = await api('POST', '/v1/endpoints', { name: 'fuzz' });
  epId = ep.body.endpoint.id;
  endpointToken = ep.body.token;
});

afterAll(async () => {
  await server?.stop();
});

/** Sends a raw body; returns status and parsed body (or the text). */
async function raw(method: string, path: string, body: string | undefined, contentType = 'application/json') {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': contentType }) },
    body,
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, body: json };
}

const deep = (n: number, leaf: unknown = 1): string => '['.repeat(n) + JSON.stringify(leaf) + ']'.repeat(n);
const deepObject = (n: number): string => '{"a":'.repeat(n) + '1' + '}'.repeat(n);

describe('bad input, case by case', () => {
  const submit = (extra: Record<string, unknown>) => JSON.stringify({ functionId: fnId, endpointId: epId, ...extra });
  const CASES: Array<{ what: string; method: string; path: string; body?: () => string; contentType?: string; want: number }> = [
    { what: 'malformed JSON', method: 'POST', path: '/v1/tasks', body: () => '{"functionId": ', want: 400 },
    { what: 'JSON that is not an object', method: 'POST', path: '/v1/tasks', body: () => '[1,2,3]', want: 400 },
    { what: 'JSON null', method: 'POST', path: '/v1/tasks', body: () => 'null', want: 400 },
    { what: 'wrong types', method: 'POST', path: '/v1/tasks', body: () => JSON.stringify({ functionId: 42, endpointId: true, args: 'no' }), want: 400 },
    { what: 'args not an array', method: 'POST', path: '/v1/tasks', body: () => submit({ args: { a: 1 } }), want: 400 },
    // request schemas are strict: an unknown field is refused, never silently dropped or obeyed
    {
      what: 'unknown fields',
      method: 'POST',
      path: '/v1/functions',
      body: () => JSON.stringify({ name: 'x', runtime: 'js', source: '() => 1', admin: true, ownerId: epId }),
      want: 400,
    },
    {
      what: 'unknown runtime',
      method: 'POST',
      path: '/v1/functions',
      body: () => JSON.stringify({ name: 'x', runtime: 'python', source: 'print(1)' }),
      want: 400,
    },
    { what: 'huge name', method: 'POST', path: '/v1/endpoints', body: () => JSON.stringify({ name: 'n'.repeat(100_000) }), want: 400 },
    { what: 'huge string in args (under the body limit)', method: 'POST', path: '/v1/tasks', body: () => submit({ args: ['x'.repeat(200_000)] }), want: 201 },
    { what: 'oversize body', method: 'POST', path: '/v1/tasks', body: () => submit({ args: ['x'.repeat(MAX_BODY + 10)] }), want: 413 },
    {
      what: 'deeply nested args (10,000 levels)',
      method: 'POST',
      path: '/v1/tasks',
      body: () => `{"functionId":"${fnId}","endpointId":"${epId}","args":${deep(10_000)}}`,
      want: 400,
    },
    {
      what: 'deeply nested kwargs objects (5,000 levels)',
      method: 'POST',
      path: '/v1/tasks',
      body: () => `{"functionId":"${fnId}","endpointId":"${epId}","kwargs":${deepObject(5_000)}}`,
      want: 400,
    },
    { what: 'deeply nested body (50,000 levels)', method: 'POST', path: '/v1/tasks/status', body: () => deep(50_000), want: 400 },
    { what: 'invalid UUID in the path', method: 'GET', path: '/v1/tasks/not-a-uuid', want: 400 },
    { what: 'SQL in the path', method: 'GET', path: "/v1/functions/1';DROP TABLE tasks;--", want: 400 },
    { what: 'invalid UUID in the body', method: 'POST', path: '/v1/tasks', body: () => JSON.stringify({ functionId: 'abc def', endpointId: epId }), want: 400 },
    { what: 'invalid UUIDs in status-of-many', method: 'POST', path: '/v1/tasks/status', body: () => JSON.stringify({ taskIds: ['x', 1, null] }), want: 400 },
    {
      what: 'too many ids in status-of-many',
      method: 'POST',
      path: '/v1/tasks/status',
      body: () => JSON.stringify({ taskIds: Array.from({ length: 10_001 }, () => epId) }),
      want: 413,
    },
    { what: 'batch of zero tasks', method: 'POST', path: '/v1/tasks/batch', body: () => JSON.stringify({ endpointId: epId, tasks: [] }), want: 400 },
    {
      what: 'non-JSON content type',
      method: 'POST',
      path: '/v1/tasks',
      body: () => 'functionId=1',
      contentType: 'application/x-www-form-urlencoded',
      want: 400,
    },
    {
      what: 'NUL bytes and lone surrogates in strings',
      method: 'POST',
      path: '/v1/functions',
      body: () => '{"name":"a\\u0000b","runtime":"js","source":"\\ud800"}',
      want: 400,
    },
    { what: 'NUL byte in task args', method: 'POST', path: '/v1/tasks', body: () => submit({ args: ['a\u0000b'] }), want: 400 },
    {
      what: 'lone surrogate in task kwargs',
      method: 'POST',
      path: '/v1/tasks',
      body: () => `{"functionId":"${fnId}","endpointId":"${epId}","kwargs":{"k":"\\udc00"}}`,
      want: 400,
    },
    {
      what: 'NUL byte in a function source',
      method: 'POST',
      path: '/v1/functions',
      body: () => JSON.stringify({ name: 'nul', runtime: 'js', source: '() => "a\u0000"' }),
      want: 400,
    },
    { what: 'args nested 129 levels', method: 'POST', path: '/v1/tasks', body: () => submit({ args: JSON.parse(deep(128)) }), want: 400 },
    { what: 'args nested 100 levels (allowed)', method: 'POST', path: '/v1/tasks', body: () => submit({ args: JSON.parse(deep(99)) }), want: 201 },
    { what: 'bad query parameters', method: 'GET', path: '/v1/tasks?limit=-5&status=bogus&cursor=%%%', want: 400 },
  ];

  it.each(CASES)('$what → $want with a code and a sentence', async ({ method, path, body, contentType, want }) => {
    const res = await raw(method, path, body?.(), contentType);
    expect({ status: res.status, body: res.body }).toMatchObject({ status: want });
    if (want >= 400) {
      expect(typeof res.body.code).toBe('string');
      expect(res.body.message).toMatch(/\w+ \w+/);
    }
  });
});

describe('results an agent cannot have stored as sent', () => {
  it('a NUL or lone surrogate in a result is stored as U+FFFD; a result nested too deep fails the task; the frame is acked either way', async () => {
    const { ProtocolPeer } = await import('../../apps/server/src/testing/protocol-peer.js');
    const api = rest(server.url, token);
    const ids = (await api('POST', '/v1/tasks/batch', { endpointId: epId, tasks: [{ functionId: fnId }, { functionId: fnId }] })).body.taskIds as string[];
    const peer = await ProtocolPeer.connect(server.url, endpointToken);
    peer.hello();
    await peer.next('welcome');
    peer.send('credits', { credits: 10 });
    // earlier cases queued tasks on this endpoint too, and frames are packed by bytes: read until both came
    const byId = new Map<string, { attempt: number }>();
    while (!ids.every((id) => byId.has(id))) for (const t of (await peer.next('tasks')).payload.tasks) byId.set(t.taskId, t);
    const timings = { startedAt: Date.now(), finishedAt: Date.now() };
    peer.send('results', {
      results: [
        { taskId: ids[0]!, attempt: byId.get(ids[0]!)!.attempt, status: 'success', result: { out: 'a\u0000b\ud800' }, timings },
        { taskId: ids[1]!, attempt: byId.get(ids[1]!)!.attempt, status: 'success', result: JSON.parse(deep(200)), timings },
      ],
    });
    expect((await peer.next('ack')).payload.taskIds.sort()).toEqual([...ids].sort());
    peer.close();
    expect((await api('GET', `/v1/tasks/${ids[0]}`)).body).toMatchObject({ status: 'success', result: { out: 'a\uFFFDb\uFFFD' } });
    expect((await api('GET', `/v1/tasks/${ids[1]}`)).body).toMatchObject({ status: 'failed', error: { code: 'RESULT_TOO_LARGE' } });
  });
});

describe('property-based fuzz (fast-check)', () => {
  const POSTS = [
    '/v1/tasks',
    '/v1/tasks/batch',
    '/v1/tasks/status',
    '/v1/functions',
    '/v1/endpoints',
    '/v1/users',
    `/v1/users/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}/tokens`,
  ];
  const uuidish = fc.oneof(fc.uuid(), fc.string(), fc.constant(''), fc.constantFrom('00000000-0000-0000-0000-000000000000', "' OR 1=1 --"));
  /** Bodies shaped like the real ones, with every field liable to be wrong. */
  const shaped = fc.record(
    {
      functionId: uuidish,
      endpointId: uuidish,
      args: fc.oneof(fc.array(fc.jsonValue(), { maxLength: 5 }), fc.jsonValue()),
      kwargs: fc.oneof(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 5 }), fc.jsonValue()),
      tasks: fc.array(fc.record({ functionId: uuidish, args: fc.jsonValue() }, { requiredKeys: [] }), { maxLength: 5 }),
      taskIds: fc.oneof(fc.array(uuidish, { maxLength: 5 }), fc.jsonValue()),
      name: fc.oneof(fc.string(), fc.jsonValue()),
      runtime: fc.oneof(fc.constantFrom('js', 'shell', 'mpi'), fc.string()),
      source: fc.oneof(fc.string(), fc.jsonValue()),
      allowedFunctions: fc.oneof(fc.array(uuidish, { maxLength: 3 }), fc.jsonValue()),
      expiresInSeconds: fc.oneof(fc.integer(), fc.double(), fc.string()),
    },
    { requiredKeys: [] },
  );
  const bodies = fc.oneof(
    shaped.map((o) => JSON.stringify(o)),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
  );

  it('REST: thousands of bodies, 0 answers ≥ 500, every refusal with a code and a sentence', async () => {
    let runs = 0;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...POSTS), bodies, async (path, body) => {
        runs++;
        const res = await raw('POST', path, body);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 500) throw new Error(`${path} answered ${res.status} to ${body.slice(0, 300)}: ${JSON.stringify(res.body)}`);
        if (res.status >= 400 && (typeof res.body?.code !== 'string' || typeof res.body?.message !== 'string'))
          throw new Error(`${path} refused without a code: ${JSON.stringify(res.body)}`);
      }),
      { numRuns: 3000, interruptAfterTimeLimit: 90_000, seed: Number(process.env.FX_FUZZ_SEED ?? Date.now() % 2 ** 31) },
    );
    console.log(`REST fuzz: ${runs} bodies; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
    expect(runs).toBeGreaterThan(1000);
    expect((await raw('GET', '/readyz', undefined)).status).toBe(200);
  });

  /** One socket per channel, reopened whenever the server closes it (which is an allowed answer). */
  class Channel {
    ws!: WebSocket;
    errors = 0;
    closes = new Map<number, number>();
    internal: string[] = [];
    constructor(
      private readonly path: string,
      private readonly header: string | undefined,
      private readonly first?: string,
    ) {}
    async open(): Promise<void> {
      const ws = new WebSocket(server.url.replace(/^http/, 'ws') + this.path, this.header ? { headers: { authorization: `Bearer ${this.header}` } } : {});
      this.ws = ws;
      ws.on('message', (d) => {
        const f = JSON.parse(d.toString());
        if (f.type === 'error') {
          this.errors++;
          if (f.payload.code === 'INTERNAL' || f.payload.code === 'UNAVAILABLE') this.internal.push(JSON.stringify(f.payload));
          if (typeof f.payload.message !== 'string' || f.payload.message.length < 5) this.internal.push(`no sentence: ${d.toString()}`);
        }
      });
      ws.on('close', (code) => {
        this.closes.set(code, (this.closes.get(code) ?? 0) + 1);
        if (code === 1011) this.internal.push(`closed 1011 on ${this.path}`);
      });
      ws.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      if (this.first) ws.send(this.first);
    }
    async send(data: string): Promise<void> {
      if (this.ws.readyState !== WebSocket.OPEN) await this.open();
      this.ws.send(data);
    }
  }

  it('websocket frames: thousands on each channel, no internal errors, the server stays healthy', async () => {
    const hello = JSON.stringify({
      v: 1,
      type: 'hello',
      payload: {
        protocolVersion: ENDPOINT_PROTOCOL_VERSION,
        agent: { name: 'f', version: 't', hostname: 'h', pid: 1, platform: 'p', provider: 'x', workers: 1 },
        inFlight: [],
      },
    });
    const channels = {
      endpoint: new Channel('/v1/ws/endpoint', endpointToken, hello),
      client: new Channel('/v1/ws/client', token),
      console: new Channel('/v1/ws/console', undefined),
    };
    for (const c of Object.values(channels)) await c.open();
    const types = fc.constantFrom(
      'hello',
      'credits',
      'started',
      'results',
      'heartbeat',
      'subscribe',
      'unsubscribe',
      'auth',
      'tasks',
      '__proto__',
      'constructor',
    );
    const frames = fc.oneof(
      fc
        .record({ v: fc.oneof(fc.constant(1), fc.jsonValue()), type: types, id: fc.option(fc.string()), payload: fc.jsonValue() }, { requiredKeys: ['type'] })
        .map((f) => JSON.stringify(f)),
      fc
        .record({
          v: fc.constant(1),
          type: fc.constant('results'),
          payload: fc.record({
            results: fc.array(
              fc.record({
                taskId: fc.uuid(),
                attempt: fc.nat(),
                status: fc.constantFrom('success', 'failed', 'x'),
                result: fc.jsonValue(),
                timings: fc.jsonValue(),
              }),
              { maxLength: 3 },
            ),
          }),
        })
        .map((f) => JSON.stringify(f)),
      fc
        .record({
          v: fc.constant(1),
          type: fc.constant('subscribe'),
          payload: fc.record({ taskIds: fc.array(fc.oneof(fc.uuid(), fc.string()), { maxLength: 5 }) }),
        })
        .map((f) => JSON.stringify(f)),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 300 }),
    );
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('endpoint', 'client', 'console') as fc.Arbitrary<keyof typeof channels>, frames, async (name, frame) => {
        runs++;
        await channels[name].send(frame);
        if (runs % 50 === 0) await new Promise((r) => setTimeout(r, 5));
      }),
      { numRuns: 4000, interruptAfterTimeLimit: 60_000 },
    );
    // oversize frames: refused, not crashed
    await channels.endpoint.send('x'.repeat(MAX_BODY + 100));
    await channels.client.send('[' + 'x'.repeat(5 * 1024 * 1024) + ']');
    await new Promise((r) => setTimeout(r, 1000));
    const summary = Object.entries(channels).map(([n, c]) => `${n}: ${c.errors} error frames, closes ${JSON.stringify(Object.fromEntries(c.closes))}`);
    console.log(`websocket fuzz: ${runs} frames; ${summary.join('; ')}`);
    for (const c of Object.values(channels)) c.ws.terminate();
    expect(Object.values(channels).flatMap((c) => c.internal)).toEqual([]);
    expect(runs).toBeGreaterThan(1000);
    expect((await raw('GET', '/readyz', undefined)).status).toBe(200);
    // and the channels still work for a well-behaved peer
    const ok = new Channel('/v1/ws/endpoint', endpointToken, hello);
    const welcomed = new Promise<boolean>((resolve) => {
      void ok.open().then(() => ok.ws.on('message', (d) => JSON.parse(d.toString()).type === 'welcome' && resolve(true)));
      setTimeout(() => resolve(false), 5000);
    });
    expect(await welcomed).toBe(true);
    ok.ws.terminate();
  });
});
