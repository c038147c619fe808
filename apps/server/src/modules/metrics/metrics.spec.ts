import { jest } from '@jest/globals';
import { networkInterfaces } from 'node:os';
import WebSocket from 'ws';
import { encodeFrame, type ClientToServer, type HeartbeatPayload, type TaskResult } from '@fx/protocol';
import { eventually as eventuallyWithin } from '@fx/testing';
import { BACKENDS, rest, startTestServer, type TestServer } from '../../testing/test-server.js';
import { ProtocolPeer } from '../../testing/protocol-peer.js';
import { decideMetricsAccess, isLoopback } from './metrics-access.js';
import { EVENT_LOOP_SAMPLE_MS } from './metrics.service.js';
import { EndpointLabels, OTHER_ENDPOINT } from './endpoint-labels.js';
import { EventsService } from '../events/events.service.js';

jest.setTimeout(90_000);

const eventually = <T>(fn: () => Promise<T>, what = 'condition') => eventuallyWithin(fn, 15_000, what, { intervalMs: 100 });

/** The samples of a Prometheus text page, by `name{label="value",…}` with labels sorted. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels = [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => `${l[1]}="${l[2]}"`).sort();
    out.set(`${m[1]}{${labels.join(',')}}`, Number(m[3]));
  }
  return out;
}
const key = (name: string, labels: Record<string, string> = {}) =>
  `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',')}}`;

describe('who may read /metrics (the decision)', () => {
  const req = (remoteAddress: string | undefined, headers: Record<string, string> = {}) => ({ remoteAddress, headers });
  const TOKEN = 'a-metrics-token-of-32-characters';

  it('knows loopback addresses in every spelling, and nothing else', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) expect(isLoopback(a)).toBe(true);
    for (const a of ['192.0.2.2', '::ffff:192.0.2.2', 'fd00::2', '10.0.0.1', '::', '0.0.0.0', 'localhost', '', undefined]) expect(isLoopback(a)).toBe(false);
  });

  it('loopback: answers loopback without a token, and other addresses only with the right bearer token', () => {
    expect(decideMetricsAccess('loopback', undefined, req('127.0.0.1'))).toEqual({ allow: true });
    expect(decideMetricsAccess('loopback', undefined, req('::1'))).toEqual({ allow: true });
    expect(decideMetricsAccess('loopback', undefined, req('192.0.2.2'))).toMatchObject({ allow: false, code: 'FORBIDDEN' });
    expect(decideMetricsAccess('loopback', TOKEN, req('192.0.2.2'))).toMatchObject({ allow: false, code: 'UNAUTHENTICATED' });
    expect(decideMetricsAccess('loopback', TOKEN, req('192.0.2.2', { authorization: 'Bearer nope' }))).toMatchObject({ allow: false, code: 'FORBIDDEN' });
    expect(decideMetricsAccess('loopback', TOKEN, req('192.0.2.2', { authorization: `Bearer ${TOKEN}x` }))).toMatchObject({ allow: false });
    expect(decideMetricsAccess('loopback', TOKEN, req('192.0.2.2', { authorization: `Bearer ${TOKEN}` }))).toEqual({ allow: true });
    expect(decideMetricsAccess('loopback', TOKEN, req('192.0.2.2', { authorization: `bearer  ${TOKEN}` }))).toEqual({ allow: true });
    // a wrong token from loopback is no worse than none
    expect(decideMetricsAccess('loopback', TOKEN, req('127.0.0.1', { authorization: 'Bearer nope' }))).toEqual({ allow: true });
  });

  it('loopback: a request forwarded by a proxy on this host is not loopback', () => {
    expect(decideMetricsAccess('loopback', undefined, req('127.0.0.1', { 'x-forwarded-for': '203.0.113.9' }))).toMatchObject({
      allow: false,
      code: 'FORBIDDEN',
    });
    expect(decideMetricsAccess('loopback', TOKEN, req('::1', { forwarded: 'for=203.0.113.9' }))).toMatchObject({ allow: false, code: 'UNAUTHENTICATED' });
    expect(decideMetricsAccess('loopback', TOKEN, req('::1', { forwarded: 'for=203.0.113.9', authorization: `Bearer ${TOKEN}` }))).toEqual({ allow: true });
  });

  it('open answers anyone; off answers no one, token or not', () => {
    expect(decideMetricsAccess('open', undefined, req('192.0.2.2'))).toEqual({ allow: true });
    expect(decideMetricsAccess('off', TOKEN, req('127.0.0.1', { authorization: `Bearer ${TOKEN}` }))).toMatchObject({ allow: false, code: 'NOT_FOUND' });
  });
});

describe('endpoint label values', () => {
  it('are the ids up to the cap, then `other`; a released id frees its slot', () => {
    const labels = new EndpointLabels(3);
    expect(['a', 'b', 'c'].map((id) => labels.of(id))).toEqual(['a', 'b', 'c']);
    expect(labels.of('d')).toBe(OTHER_ENDPOINT);
    expect(labels.of('a')).toBe('a');
    expect(labels.size).toBe(3);
    expect(labels.release('b')).toBe(true);
    expect(labels.release('b')).toBe(false);
    expect(labels.of('d')).toBe('d');
    expect(labels.of('e')).toBe(OTHER_ENDPOINT);
    // a report about a deleted endpoint arriving late does not take its slot back
    expect(labels.release('c')).toBe(true);
    expect(labels.of('c')).toBe(OTHER_ENDPOINT);
    expect(labels.of('e')).toBe('e');
  });

  it('stay bounded however many endpoints pass', () => {
    const labels = new EndpointLabels(1_000);
    const seen = new Set<string>();
    for (let i = 0; i < 50_000; i++) seen.add(labels.of(`ep-${i}`));
    expect(seen.size).toBe(1_001);
    expect(seen.has(OTHER_ENDPOINT)).toBe(true);
  });
});

/** The first non-loopback IPv4 address of this machine, if it has one. */
function externalAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}

describe('who may read /metrics (real requests)', () => {
  const TOKEN = 'metrics-token-0123456789abcdef';
  let server: TestServer;
  let off: TestServer;
  let port: number;

  beforeAll(async () => {
    // every interface, so that a request can come from a non-loopback address of this machine
    server = await startTestServer('postgres+redis', { HOST: '0.0.0.0', FX_METRICS_TOKEN: TOKEN });
    port = Number(new URL(server.url).port);
    off = await startTestServer('postgres+redis', { FX_METRICS: 'off' });
  });
  afterAll(async () => {
    await server?.stop();
    await off?.stop();
  });

  it('answers loopback with the metrics, in the Prometheus text format', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const s = samples(await res.text());
    expect(s.get(key('fx_database_up', { kind: 'postgres' }))).toBe(1);
    expect(s.get(key('fx_broker_up', { kind: 'redis' }))).toBe(1);
    expect(s.get(key('fx_process_cpu_user_seconds_total'))).toBeGreaterThan(0);
    expect([...s.keys()].every((k) => k.startsWith('fx_'))).toBe(true);
  });

  it("samples the event loop's lag every EVENT_LOOP_SAMPLE_MS, not at prom-client's 10 ms (which woke an idle server 100 times a second)", async () => {
    await new Promise((r) => setTimeout(r, 3 * EVENT_LOOP_SAMPLE_MS));
    const s = samples(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    // Node's histogram records the time between its timer's turns: never less than the sampling period
    const min = s.get(key('fx_nodejs_eventloop_lag_min_seconds'))!;
    expect(min).toBeGreaterThanOrEqual((EVENT_LOOP_SAMPLE_MS * 0.9) / 1000);
    // and it has samples (an empty histogram's minimum is 2^63 ns)
    expect(min).toBeLessThan(60);
  });

  it('refuses another address without the token (401), with a wrong one (403), and answers it with the right one', async () => {
    const external = externalAddress();
    // without a non-loopback interface, the one way to arrive from elsewhere is through a proxy on this host
    const from: { url: string; headers: Record<string, string> } = external
      ? { url: `http://${external}:${port}/metrics`, headers: {} }
      : { url: `http://127.0.0.1:${port}/metrics`, headers: { 'x-forwarded-for': '203.0.113.9' } };
    const none = await fetch(from.url, { headers: from.headers });
    expect(none.status).toBe(401);
    const body = (await none.json()) as { code: string; message: string };
    expect(body.code).toBe('UNAUTHENTICATED');
    expect(body.message).toContain('FX_METRICS_TOKEN');
    const wrong = await fetch(from.url, { headers: { ...from.headers, authorization: `Bearer ${server.adminToken}` } });
    expect(wrong.status).toBe(403);
    expect(((await wrong.json()) as { code: string }).code).toBe('FORBIDDEN');
    const right = await fetch(from.url, { headers: { ...from.headers, authorization: `Bearer ${TOKEN}` } });
    expect(right.status).toBe(200);
    expect(await right.text()).toContain('fx_tasks_open');
  });

  it('treats a request forwarded by a proxy on this host as not loopback', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/json');
  });

  it('answers 404 with FX_METRICS=off, even on loopback', async () => {
    const res = await rest(off.url)('GET', '/metrics');
    expect(res).toMatchObject({ status: 404, body: { code: 'NOT_FOUND', message: expect.stringContaining('FX_METRICS=off') } });
  });
});

describe.each(BACKENDS)('metrics of a running server (%s)', (backend) => {
  let server: TestServer;
  let alice: ReturnType<typeof rest>;
  let aliceToken: string;
  let fnId: string;
  let endpointId: string;
  let peer: ProtocolPeer;
  const taskIds: string[] = [];
  const scrape = async () => {
    const res = await fetch(`${server.url}/metrics`);
    if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
    return res.text();
  };
  const read = async (name: string, labels: Record<string, string> = {}) => samples(await scrape()).get(key(name, labels));
  /** Waits until the sample has this value (outcomes are counted in the background, gauges read at most once a second). */
  const until = (name: string, labels: Record<string, string>, value: number) =>
    eventually(async () => (await read(name, labels)) === value, `${key(name, labels)} = ${value}`).catch(async (e) => {
      throw new Error(`${(e as Error).message}; it is ${await read(name, labels)}`);
    });
  const heartbeat: HeartbeatPayload = {
    state: 'RUNNING',
    workers: { total: 4, busy: 3, idle: 1 },
    queued: 2,
    running: 3,
    spooled: 7,
    provider: 'slurm',
    blocks: [
      { blockId: 'b1', jobId: '11', state: 'running', nodes: 2, startedAt: Date.now() - 60_000, busyMs: 50_000, idleMs: 10_000 },
      { blockId: 'b2', state: 'pending', nodes: 1, busyMs: 0, idleMs: 0 },
      { blockId: 'b0', jobId: '10', state: 'ended', nodes: 1, startedAt: Date.now() - 120_000, endedAt: Date.now() - 60_000, busyMs: 1, idleMs: 59_999 },
    ],
  };

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_RATE_LIMIT_PER_SECOND: '0' });
    const admin = rest(server.url, server.adminToken);
    const u = await admin('POST', '/v1/users', { name: 'alice' });
    aliceToken = (await admin('POST', `/v1/users/${u.body.id}/tokens`, { name: 't' })).body.token;
    alice = rest(server.url, aliceToken);
    fnId = (await alice('POST', '/v1/functions', { name: 'f', runtime: 'js', source: '(x) => x' })).body.id;
    const ep = (await alice('POST', '/v1/endpoints', { name: 'ep' })).body;
    endpointId = ep.endpoint.id;
    peer = await ProtocolPeer.connect(server.url, ep.token);
    peer.hello();
    await peer.next('welcome');
    peer.send('heartbeat', heartbeat);
  });
  afterAll(async () => {
    peer?.close();
    await server?.stop();
  });

  it('counts a submission by runtime and endpoint, and shows it queued', async () => {
    const r = await alice('POST', '/v1/tasks/batch', { endpointId, tasks: Array.from({ length: 5 }, (_, i) => ({ functionId: fnId, args: [i] })) });
    expect(r.status).toBe(201);
    taskIds.push(...r.body.taskIds);
    expect(await read('fx_tasks_submitted_total', { runtime: 'js', endpoint: endpointId })).toBe(5);
    await until('fx_queue_depth', { endpoint: endpointId }, 5);
    expect(await read('fx_tasks_open', { endpoint: endpointId, state: 'waiting-for-endpoint' })).toBe(5);
  });

  it("exports the agent's heartbeat figures by endpoint, live blocks by state", async () => {
    await until('fx_agent_workers', { endpoint: endpointId }, 4);
    const s = samples(await scrape());
    expect(s.get(key('fx_agents_connected'))).toBe(1);
    expect(s.get(key('fx_agent_workers_busy', { endpoint: endpointId }))).toBe(3);
    expect(s.get(key('fx_agent_workers_idle', { endpoint: endpointId }))).toBe(1);
    expect(s.get(key('fx_agent_tasks_queued', { endpoint: endpointId }))).toBe(2);
    expect(s.get(key('fx_agent_tasks_running', { endpoint: endpointId }))).toBe(3);
    expect(s.get(key('fx_agent_results_spooled', { endpoint: endpointId }))).toBe(7);
    expect(s.get(key('fx_agent_blocks', { endpoint: endpointId, state: 'running' }))).toBe(1);
    expect(s.get(key('fx_agent_blocks', { endpoint: endpointId, state: 'pending' }))).toBe(1);
    expect(s.get(key('fx_agent_blocks', { endpoint: endpointId, state: 'ended' }))).toBeUndefined();
    expect(s.get(key('fx_agent_block_nodes', { endpoint: endpointId, state: 'running' }))).toBe(2);
    expect(s.get(key('fx_agent_heartbeat_age_seconds', { endpoint: endpointId }))).toBeGreaterThanOrEqual(0);
    await until('fx_endpoint_up', { endpoint: endpointId }, 1);
  });

  it('counts outcomes by state, the three durations, results and frames; never a task id as a label', async () => {
    peer.send('credits', { credits: 5 });
    const tasks = await peer.tasks(5);
    peer.send('started', { tasks: tasks.map((t) => ({ taskId: t.taskId, startedAt: Date.now() })) });
    const results: TaskResult[] = tasks.map((t, i) =>
      i < 3
        ? { taskId: t.taskId, attempt: t.attempt, status: 'success', result: i, timings: {} }
        : { taskId: t.taskId, attempt: t.attempt, status: 'failed', error: { code: 'TASK_ERROR', name: 'Error', message: 'no' }, timings: {} },
    );
    peer.send('results', { results });
    await peer.next('ack');
    await until('fx_tasks_finished_total', { state: 'success', runtime: 'js', endpoint: endpointId }, 3);
    await until('fx_tasks_finished_total', { state: 'failed', runtime: 'js', endpoint: endpointId }, 2);
    const text = await scrape();
    const s = samples(text);
    expect(s.get(key('fx_task_latency_seconds_count', { runtime: 'js' }))).toBe(5);
    expect(s.get(key('fx_task_run_seconds_count', { runtime: 'js' }))).toBe(5);
    expect(s.get(key('fx_task_queue_wait_seconds_count', { runtime: 'js' }))).toBe(5);
    expect(s.get(key('fx_task_latency_seconds_bucket', { runtime: 'js', le: '+Inf' }))).toBe(5);
    expect(s.get(key('fx_results_total', { outcome: 'recorded' }))).toBe(5);
    expect(s.get(key('fx_frames_received_total', { channel: 'endpoint', type: 'results' }))).toBe(1);
    expect(s.get(key('fx_frames_received_total', { channel: 'endpoint', type: 'hello' }))).toBe(1);
    expect(s.get(key('fx_frames_sent_total', { channel: 'endpoint', type: 'ack' }))).toBe(1);
    expect(s.get(key('fx_frames_sent_total', { channel: 'endpoint', type: 'tasks' }))).toBeGreaterThanOrEqual(1);
    await until('fx_queue_depth', { endpoint: endpointId }, 0);
    for (const id of taskIds) expect(text).not.toContain(id);
  });

  it('counts a resent result as a duplicate, not as a second outcome', async () => {
    const tasks = taskIds.slice(0, 2);
    peer.send('results', { results: tasks.map((taskId) => ({ taskId, attempt: 0, status: 'success', result: 0, timings: {} }) satisfies TaskResult) });
    await peer.next('ack');
    await until('fx_results_total', { outcome: 'duplicate' }, 2);
    const s = samples(await scrape());
    expect(s.get(key('fx_tasks_finished_total', { state: 'success', runtime: 'js', endpoint: endpointId }))).toBe(3);
    expect(s.get(key('fx_task_latency_seconds_count', { runtime: 'js' }))).toBe(5);
  });

  it("publishes a resent result's stored outcome again once per connection, however often it is resent", async () => {
    const tasks = taskIds.slice(0, 2);
    const events = server.app.get(EventsService);
    const published: string[] = [];
    const publish = events.publish.bind(events);
    const spy = jest.spyOn(events, 'publish').mockImplementation(((type: string, payload: { results?: Array<{ taskId: string }> }) => {
      if (type === 'results') for (const r of payload.results ?? []) if (tasks.includes(r.taskId)) published.push(r.taskId);
      return publish(type as never, payload as never);
    }) as typeof events.publish);
    try {
      // the connection above resent these once already (the test before): an agent naming them again and
      // again made the server read their results and send them to their owner's sockets at every frame
      for (let i = 0; i < 3; i++) {
        peer.send('results', { results: tasks.map((taskId) => ({ taskId, attempt: 0, status: 'success', result: 0, timings: {} }) satisfies TaskResult) });
        await peer.next('ack');
      }
      await until('fx_results_total', { outcome: 'duplicate' }, 8);
      expect(published).toEqual([]);
    } finally {
      spy.mockRestore();
    }
  });

  it('counts a cancel while queued as cancelled, outside the latency histogram', async () => {
    const id = (await alice('POST', '/v1/tasks', { functionId: fnId, endpointId, args: [9] })).body.taskId;
    expect((await alice('POST', `/v1/tasks/${id}/cancel`)).status).toBe(200);
    await until('fx_tasks_finished_total', { state: 'cancelled', runtime: 'js', endpoint: endpointId }, 1);
    expect(await read('fx_task_latency_seconds_count', { runtime: 'js' })).toBe(5);
  });

  it('counts memoized results: the first run a miss, an identical task after it a hit', async () => {
    const first = (await alice('POST', '/v1/tasks', { functionId: fnId, endpointId, args: ['memo'], cache: true })).body.taskId;
    peer.send('credits', { credits: 1 });
    const [t] = await peer.tasks(1);
    expect(t!.taskId).toBe(first);
    peer.send('results', { results: [{ taskId: first, attempt: t!.attempt, status: 'success', result: 'memo', timings: {} }] });
    await peer.next('ack');
    await until('fx_cache_misses_total', {}, 1);
    const second = await alice('POST', '/v1/tasks', { functionId: fnId, endpointId, args: ['memo'], cache: true });
    expect(second.status).toBe(201);
    await until('fx_cache_hits_total', {}, 1);
    await until('fx_tasks_finished_total', { state: 'success', runtime: 'js', endpoint: endpointId }, 5);
    expect(await read('fx_tasks_submitted_total', { runtime: 'js', endpoint: endpointId })).toBe(8);
  });

  it('counts object bytes in and out', async () => {
    const body = '{"metrics":true}';
    const put = await alice('POST', '/v1/objects', body, { 'content-type': 'application/octet-stream' });
    expect(put.status).toBe(201);
    await until('fx_object_bytes_in_total', {}, body.length);
    const got = await fetch(`${server.url}/v1/objects/${put.body.id}/content`, { headers: { authorization: `Bearer ${aliceToken}`, range: 'bytes=2-' } });
    expect(await got.text()).toBe(body.slice(2));
    expect(await read('fx_object_bytes_out_total')).toBe(body.length - 2);
  });

  it('counts SDK sockets and their frames', async () => {
    const ws = new WebSocket(server.url.replace('http', 'ws') + '/v1/ws/client', { headers: { authorization: `Bearer ${aliceToken}` } });
    await new Promise((r) => ws.once('open', r));
    try {
      ws.send(encodeFrame<ClientToServer, 'subscribe'>('subscribe', { taskIds: [taskIds[0]!] }, 's1'));
      await until('fx_frames_received_total', { channel: 'client', type: 'subscribe' }, 1);
      await until('fx_frames_sent_total', { channel: 'client', type: 'result' }, 1);
      expect(await read('fx_clients_connected', { channel: 'client' })).toBe(1);
    } finally {
      ws.close();
    }
  });

  it("drops a deleted endpoint's series, so its id is no longer a label value", async () => {
    expect(await scrape()).toContain(endpointId);
    expect((await alice('DELETE', `/v1/endpoints/${endpointId}`)).status).toBe(204);
    await eventually(async () => !(await scrape()).includes(endpointId), 'no series of the deleted endpoint');
    expect(await read('fx_agents_connected')).toBe(0);
  });
});
