import { jest } from '@jest/globals';
import { request } from 'node:http';
import { rest } from '../../apps/server/src/testing/test-server.js';
import { ServerProcess, type Backend } from '@fx/testing';

/**
 * Issue 10, item 2 (REST): bodies are read only after the token is checked, and their shape is
 * bounded before JSON.parse. While several clients send 8 MB bodies nested millions of levels deep,
 * with no token and with a valid one, the built server keeps answering /healthz; a valid task with
 * 500,000 kwargs is refused with a sentence; reserved keys (`__proto__`, `constructor`, `prototype`)
 * in kwargs are refused naming their path instead of being dropped.
 */
jest.setTimeout(240_000);

const NESTED = Buffer.from('['.repeat(4 * 1024 * 1024) + ']'.repeat(4 * 1024 * 1024));
const CLIENTS = 3;
const FLOOD_MS = 6_000;

/** POSTs a raw body; resolves with the status, or with the socket error when the server hung up first. */
function post(url: string, path: string, body: Buffer, token?: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(body.length), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.end(body);
  });
}

/** Floods `path` from CLIENTS clients for FLOOD_MS while probing /healthz; returns what each side saw. */
async function flood(server: ServerProcess, body: Buffer, token?: string) {
  const statuses: Array<number | string> = [];
  const probes: number[] = [];
  const until = Date.now() + FLOOD_MS;
  const attackers = Array.from({ length: CLIENTS }, async () => {
    while (Date.now() < until) statuses.push(await post(server.url, '/v1/tasks', body, token));
  });
  const prober = (async () => {
    while (Date.now() < until) {
      const t0 = performance.now();
      const res = await fetch(server.url + '/healthz', { signal: AbortSignal.timeout(10_000) });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      probes.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  await Promise.all([...attackers, prober]);
  return { statuses, probes, maxProbeMs: Math.max(...probes) };
}

describe.each(['embedded', 'postgres+redis'] as Backend[])('body bounds (%s)', (backend) => {
  let server: ServerProcess;
  let api: ReturnType<typeof rest>;
  let fnId: string;
  let epId: string;

  beforeAll(async () => {
    server = await ServerProcess.start(backend, { FX_LOG_LEVEL: 'error', FX_RATE_LIMIT_PER_SECOND: '0' });
    api = rest(server.url, server.adminToken);
    fnId = (await api('POST', '/v1/functions', { name: 'f', runtime: 'js', source: '(x) => x' })).body.id;
    epId = (await api('POST', '/v1/endpoints', { name: 'bounds' })).body.endpoint.id;
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('8 MB nested bodies without a token are refused unread, and /healthz answers throughout', async () => {
    const { statuses, probes, maxProbeMs } = await flood(server, NESTED);
    expect(statuses.length).toBeGreaterThan(0);
    // 413 when the answer arrived before the hang-up, a reset when the upload was cut first
    for (const s of statuses) expect(s === 413 || typeof s === 'string').toBe(true);
    expect(statuses).toContain(413);
    expect(probes.length).toBeGreaterThan(10);
    expect(maxProbeMs).toBeLessThan(1_000);
  });

  it('8 MB nested bodies with a valid token are refused 400 before parsing, and /healthz answers throughout', async () => {
    const { statuses, probes, maxProbeMs } = await flood(server, NESTED, server.adminToken);
    expect(statuses.length).toBeGreaterThan(CLIENTS);
    expect(new Set(statuses)).toEqual(new Set([400]));
    expect(probes.length).toBeGreaterThan(10);
    expect(maxProbeMs).toBeLessThan(1_000);
    const one = await api('POST', '/v1/tasks', NESTED.toString());
    expect(one.body).toEqual({ code: 'VALIDATION_FAILED', message: expect.stringMatching(/nested more than 128 levels/) });
  });

  it('a body without a token: a few KiB get the usual 401, more is 413', async () => {
    const anon = rest(server.url);
    const small = await anon('POST', '/v1/tasks', { functionId: fnId, endpointId: epId });
    expect(small.status).toBe(401);
    expect(small.body.code).toBe('UNAUTHENTICATED');
    const bad = await rest(server.url, 'not-a-token')('POST', '/v1/tasks', { functionId: fnId, endpointId: epId });
    expect(bad.status).toBe(401);
    const big = await anon('POST', '/v1/tasks', { functionId: fnId, endpointId: epId, args: ['x'.repeat(64 * 1024)] });
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('PAYLOAD_TOO_LARGE');
    // with the token the same body is a task
    expect((await api('POST', '/v1/tasks', { functionId: fnId, endpointId: epId, args: ['x'.repeat(64 * 1024)] })).status).toBe(201);
  });

  it('a valid task with 500,000 kwargs is refused with a sentence, and /healthz keeps answering', async () => {
    const kwargs = `{${Array.from({ length: 500_000 }, (_, i) => `"k${i}":${i}`).join(',')}}`;
    const body = Buffer.from(`{"functionId":"${fnId}","endpointId":"${epId}","kwargs":${kwargs}}`);
    const { statuses, maxProbeMs } = await flood(server, body, server.adminToken);
    expect(new Set(statuses)).toEqual(new Set([400]));
    expect(maxProbeMs).toBeLessThan(1_000);
    const one = await api('POST', '/v1/tasks', body.toString());
    expect(one.body).toEqual({ code: 'VALIDATION_FAILED', message: expect.stringMatching(/object with more than 10000 keys/) });
    // at the limit it is still a task
    const fine = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i]));
    expect((await api('POST', '/v1/tasks', { functionId: fnId, endpointId: epId, kwargs: fine })).status).toBe(201);
  });

  it('reserved keys in kwargs are refused naming their path, never dropped', async () => {
    const proto = await api('POST', '/v1/tasks', `{"functionId":"${fnId}","endpointId":"${epId}","kwargs":{"a":1,"__proto__":{"x":1}}}`);
    expect(proto.status).toBe(400);
    expect(proto.body.code).toBe('VALIDATION_FAILED');
    expect(proto.body.message).toMatch(/kwargs\.__proto__/);
    const nested = await api('POST', '/v1/tasks', { functionId: fnId, endpointId: epId, kwargs: { opts: { list: [{ constructor: 'x' }] } } });
    expect(nested.status).toBe(400);
    expect(nested.body.message).toMatch(/kwargs\.opts\.list\[0\]\.constructor/);
    const batch = await api('POST', '/v1/tasks/batch', { endpointId: epId, tasks: [{ functionId: fnId }, { functionId: fnId, kwargs: { prototype: 1 } }] });
    expect(batch.status).toBe(400);
    expect(batch.body.message).toMatch(/tasks\[1\]\.kwargs\.prototype/);
  });
});
