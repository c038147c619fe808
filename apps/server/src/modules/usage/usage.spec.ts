import { jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { MAX_USAGE_KEYS, UsageResponse } from '@fx/protocol';
import { startTestServer, rest, type TestServer } from '../../testing/test-server.js';
import { seedAttempts, seedBlocks } from '../../testing/usage-seed.js';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';

/**
 * GET /v1/usage on a real server (PostgreSQL + Redis, and PGlite), over rows written straight into
 * usage_records and endpoint_blocks: the sums, the ranking and `others`, the buckets, the window's
 * edges, the part of each pilot block inside the window, and who sees what.
 */
jest.setTimeout(120_000);

const H = 3_600_000;
const D = 24 * H;
/** Far from the test's clock, so the default window (the last 7 days) sees none of it. */
const T0 = Date.parse('2025-03-03T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const W1 = `since=${iso(T0)}&until=${iso(T0 + 2 * D)}`;

describe.each([
  ['postgres+redis', {}],
  ['pglite', { FX_EMBEDDED_STORE: 'pglite' }],
] as const)('usage reports (%s)', (kind, env) => {
  let server: TestServer;
  let db: Database;
  let admin: ReturnType<typeof rest>;
  let alice: ReturnType<typeof rest>;
  let bob: ReturnType<typeof rest>;
  const ids = {} as Record<'alice' | 'bob' | 'f1' | 'f2' | 'g' | 'e1' | 'e2' | 'eb', string>;

  beforeAll(async () => {
    server = await startTestServer(kind === 'pglite' ? 'embedded' : 'postgres+redis', { FX_RATE_LIMIT_PER_SECOND: '0', ...env });
    db = server.app.get(DATABASE);
    admin = rest(server.url, server.adminToken);
    for (const name of ['alice', 'bob'] as const) {
      const u = await admin('POST', '/v1/users', { name });
      ids[name] = u.body.id;
      const token = (await admin('POST', `/v1/users/${u.body.id}/tokens`, { name: 'main' })).body.token;
      if (name === 'alice') alice = rest(server.url, token);
      else bob = rest(server.url, token);
    }
    ids.f1 = (await alice('POST', '/v1/functions', { name: 'double', runtime: 'js', source: '(x) => 2 * x' })).body.id;
    ids.f2 = (await alice('POST', '/v1/functions', { name: 'gone', runtime: 'js', source: '(x) => x' })).body.id;
    ids.g = (await bob('POST', '/v1/functions', { name: 'g', runtime: 'js', source: '(x) => x + 1' })).body.id;
    ids.e1 = (await alice('POST', '/v1/endpoints', { name: 'e1' })).body.endpoint.id;
    ids.e2 = (await alice('POST', '/v1/endpoints', { name: 'e2' })).body.endpoint.id;
    ids.eb = (await bob('POST', '/v1/endpoints', { name: 'eb' })).body.endpoint.id;
    // deleted since: their usage stays, their names go
    expect((await alice('DELETE', `/v1/functions/${ids.f2}`)).status).toBe(204);
    expect((await alice('DELETE', `/v1/endpoints/${ids.e2}`)).status).toBe(204);

    const t1 = randomUUID();
    const mine = { ownerId: ids.alice };
    await seedAttempts(db, [
      // one task, two attempts
      {
        ...mine,
        taskId: t1,
        attempt: 1,
        status: 'failed',
        functionId: ids.f1,
        endpointId: ids.e1,
        endedAt: T0 + H,
        wallMs: H,
        cores: 4,
        gpus: 1,
        cpuMs: 2 * H,
        maxRssBytes: 1000,
      },
      {
        ...mine,
        taskId: t1,
        attempt: 2,
        functionId: ids.f1,
        endpointId: ids.e1,
        endedAt: T0 + 2.5 * H,
        wallMs: 0.5 * H,
        cores: 4,
        gpus: 1,
        cpuMs: null,
        maxRssBytes: 5000,
      },
      { ...mine, functionId: ids.f2, endpointId: ids.e2, endedAt: T0 + D + H, wallMs: 2 * H, cores: 1, cpuMs: H },
      // on bob's endpoint (a group routed it there); ended on the window's first instant: counted
      { ...mine, functionId: ids.f1, endpointId: ids.eb, endedAt: T0, wallMs: 0.1 * H, cores: 10, cpuMs: 0.1 * H },
      // on the window's last instant and just before its first: not counted
      { ...mine, functionId: ids.f1, endpointId: ids.e1, endedAt: T0 + 2 * D, wallMs: H, cores: 100 },
      { ...mine, functionId: ids.f1, endpointId: ids.e1, endedAt: T0 - 1, wallMs: H, cores: 100 },
      { ownerId: ids.bob, functionId: ids.g, endpointId: ids.eb, endedAt: T0 + 3 * H, wallMs: H, cores: 2, gpus: 2, cpuMs: H, maxRssBytes: 9000 },
    ]);
    await seedBlocks(db, [
      // inside the window
      { endpointId: ids.e1, nodes: 2, startedAt: T0 + H, endedAt: T0 + 3 * H, busyMs: 1.5 * H, idleMs: 0.5 * H },
      // half of it before the window
      { endpointId: ids.e1, nodes: 1, startedAt: T0 - H, endedAt: T0 + H, busyMs: 0.5 * H, idleMs: 1.5 * H },
      // pending (no node yet), and over before the window: nothing
      { endpointId: ids.e1, nodes: 3, startedAt: null, busyMs: 0, idleMs: 0, state: 'pending', updatedAt: T0 + H },
      { endpointId: ids.e1, nodes: 8, startedAt: T0 - 5 * H, endedAt: T0 - 4 * H, busyMs: 0, idleMs: H },
      // live, its last report past the window's end: half of it inside
      { endpointId: ids.e2, nodes: 4, startedAt: T0 + 2 * D - H, updatedAt: T0 + 2 * D + H, busyMs: 0.5 * H, idleMs: 1.5 * H },
      { endpointId: ids.eb, nodes: 1, startedAt: T0, endedAt: T0 + H, busyMs: H, idleMs: 0 },
    ]);
  });
  afterAll(async () => {
    await server?.stop();
  });

  const usage = async (as: ReturnType<typeof rest>, query: string) => {
    const r = await as('GET', `/v1/usage?${query}`);
    expect(r.status).toBe(200);
    return UsageResponse.parse(r.body);
  };

  it("sums a user's attempts in the window, their own only, with distinct tasks, measured CPU and peak memory", async () => {
    const r = await usage(alice, `by=user&${W1}`);
    expect(r).toMatchObject({ by: 'user', bucket: 'day', since: iso(T0), until: iso(T0 + 2 * D) });
    const figures = { attempts: 4, tasks: 3, measuredAttempts: 3, maxRssBytes: 5000 };
    expect(r.total).toMatchObject(figures);
    expect(r.total.wallHours).toBeCloseTo(3.6, 9);
    expect(r.total.coreHours).toBeCloseTo(9, 9);
    expect(r.total.gpuHours).toBeCloseTo(1.5, 9);
    expect(r.total.cpuHours).toBeCloseTo(3.1, 9);
    expect(r.rows).toEqual([{ key: ids.alice, name: 'alice', ...r.total }]);
    expect(r.others).toBeUndefined();
    // bob sees only his
    const b = await usage(bob, `by=user&${W1}`);
    expect(b.rows.map((x) => [x.key, x.name, x.coreHours])).toEqual([[ids.bob, 'bob', 2]]);
    expect(b.total).toMatchObject({ attempts: 1, tasks: 1, coreHours: 2, gpuHours: 2, maxRssBytes: 9000 });
  });

  it('shows an admin everyone, the most core-hours first', async () => {
    const r = await usage(admin, `by=user&${W1}`);
    expect(r.rows.map((x) => [x.name, x.attempts])).toEqual([
      ['alice', 4],
      ['bob', 1],
    ]);
    expect(r.total.attempts).toBe(5);
    expect(r.total.coreHours).toBeCloseTo(11, 9);
    expect(r.total.maxRssBytes).toBe(9000);
  });

  it('groups by function and endpoint, naming only what still exists and is the caller’s', async () => {
    const f = await usage(alice, `by=function&${W1}`);
    expect(f.rows.map((x) => [x.key, x.name, x.attempts, x.tasks, Number(x.coreHours.toFixed(9))])).toEqual([
      [ids.f1, 'double@1', 3, 2, 7],
      [ids.f2, null, 1, 1, 2],
    ]);
    const e = await usage(alice, `by=endpoint&${W1}`);
    expect(e.rows.map((x) => [x.key, x.name, Number(x.coreHours.toFixed(9))])).toEqual([
      [ids.e1, 'e1', 6],
      [ids.e2, null, 2],
      [ids.eb, null, 1],
    ]);
    const all = await usage(admin, `by=endpoint&${W1}`);
    expect(all.rows.map((x) => [x.key, x.name, Number(x.coreHours.toFixed(9))])).toEqual([
      [ids.e1, 'e1', 6],
      [ids.eb, 'eb', 3],
      [ids.e2, null, 2],
    ]);
  });

  it('puts core- and GPU-hours in UTC buckets by the end of each attempt', async () => {
    const days = await usage(alice, `by=function&${W1}`);
    expect(days.series.map((p) => [p.at, p.key, Number(p.coreHours.toFixed(9)), Number(p.gpuHours.toFixed(9))])).toEqual([
      [iso(T0), ids.f1, 7, 1.5],
      [iso(T0 + D), ids.f2, 2, 0],
    ]);
    const hours = await usage(alice, `by=user&bucket=hour&${W1}`);
    expect(hours.bucket).toBe('hour');
    expect(hours.series.map((p) => [p.at, Number(p.coreHours.toFixed(9))])).toEqual([
      [iso(T0), 1],
      [iso(T0 + H), 4],
      [iso(T0 + 2 * H), 2],
      [iso(T0 + D + H), 2],
    ]);
  });

  it(`lists the ${MAX_USAGE_KEYS} keys with the most core-hours and sums the rest in others`, async () => {
    const T2 = T0 + 10 * D;
    const fns = Array.from({ length: MAX_USAGE_KEYS + 3 }, () => randomUUID());
    await seedAttempts(
      db,
      fns.map((fn, i) => ({ ownerId: ids.bob, functionId: fn, endpointId: ids.eb, endedAt: T2 + i * 1000, wallMs: H, cores: i + 1, gpus: 1 })),
    );
    const r = await usage(admin, `by=function&since=${iso(T2)}&until=${iso(T2 + D)}`);
    expect(r.rows).toHaveLength(MAX_USAGE_KEYS);
    expect(r.rows[0]).toMatchObject({ key: fns.at(-1), name: null, coreHours: MAX_USAGE_KEYS + 3 });
    expect(r.rows.at(-1)!.coreHours).toBe(4);
    expect(r.others).toMatchObject({ attempts: 3, tasks: 3, coreHours: 6, gpuHours: 3 });
    expect(r.total).toMatchObject({ attempts: MAX_USAGE_KEYS + 3, coreHours: ((MAX_USAGE_KEYS + 3) * (MAX_USAGE_KEYS + 4)) / 2 });
    const seriesKeys = new Set(r.series.map((p) => p.key));
    expect(seriesKeys).toEqual(new Set(r.rows.map((x) => x.key)));
    expect(r.series.reduce((n, p) => n + p.coreHours, 0)).toBeCloseTo(r.total.coreHours - 6, 6);
    // a user with none of it sees none of it
    expect((await usage(alice, `by=function&since=${iso(T2)}&until=${iso(T2 + D)}`)).rows).toEqual([]);
  });

  it('counts the part of each pilot block inside the window, busy and idle, on the caller’s endpoints', async () => {
    const r = await usage(alice, `by=user&${W1}`);
    const round = (n: number | null) => (n === null ? null : Number(n.toFixed(9)));
    const table = r.blocks.map((b) => [
      b.endpointId,
      b.endpointName,
      b.blocks,
      round(b.nodeHours),
      round(b.busyNodeHours),
      round(b.idleNodeHours),
      round(b.idleShare),
    ]);
    expect(table).toEqual([
      [ids.e1, 'e1', 2, 5, 3.25, 1.75, 0.35],
      [ids.e2, null, 1, 4, 1, 3, 0.75],
    ]);
    for (const b of r.blocks) expect(b.nodeHours).toBeCloseTo(b.busyNodeHours + b.idleNodeHours, 9);
    expect((await usage(bob, `by=user&${W1}`)).blocks.map((b) => [b.endpointName, b.idleShare])).toEqual([['eb', 0]]);
    expect((await usage(admin, `by=user&${W1}`)).blocks.map((b) => b.endpointId)).toEqual([ids.e1, ids.e2, ids.eb]);
    // a window that cuts a block in two shares it out: the two halves add up to the whole
    const first = await usage(alice, `since=${iso(T0)}&until=${iso(T0 + 2 * H)}`);
    const second = await usage(alice, `since=${iso(T0 + 2 * H)}&until=${iso(T0 + 4 * H)}`);
    const e1 = (x: typeof first) => x.blocks.find((b) => b.endpointId === ids.e1)!;
    expect(e1(first).busyNodeHours + e1(second).busyNodeHours).toBeCloseTo(1.5 * 2 + 0.25, 9);
    expect(e1(first).nodeHours).toBeCloseTo(1 + 2, 9); // one hour of block B and one hour of A's two nodes
  });

  it('defaults to the last 7 days', async () => {
    const now = Date.now();
    await seedAttempts(db, [
      { ownerId: ids.alice, functionId: ids.f1, endpointId: ids.e1, endedAt: now - 60_000, wallMs: H, cores: 3 },
      { ownerId: ids.alice, functionId: ids.f1, endpointId: ids.e1, endedAt: now - 8 * D, wallMs: H, cores: 5 },
    ]);
    const r = await usage(alice, '');
    expect(r).toMatchObject({ by: 'user', bucket: 'day' });
    expect(Date.parse(r.until) - Date.parse(r.since)).toBe(7 * D);
    expect(Math.abs(Date.parse(r.until) - Date.now())).toBeLessThan(60_000);
    expect(r.total).toMatchObject({ attempts: 1, coreHours: 3 });
  });

  it('refuses a window it cannot answer with a 400 that says why', async () => {
    const refused = async (query: string, message: RegExp) => {
      const r = await alice('GET', `/v1/usage?${query}`);
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('VALIDATION_FAILED');
      expect(r.body.message).toMatch(message);
    };
    await refused(`since=${iso(T0)}&until=${iso(T0)}`, /must be before until/);
    await refused(`since=${iso(T0 + D)}&until=${iso(T0)}`, /must be before until/);
    await refused(`since=${iso(T0)}&until=${iso(T0 + 367 * D)}`, /at most 366 may be asked for/);
    await refused(`bucket=hour&since=${iso(T0)}&until=${iso(T0 + 32 * D)}`, /hourly buckets cover at most 31 days/);
    await refused('by=owner', /by/);
    await refused('since=yesterday', /since/);
    await refused('limit=5', /limit/);
    // a year of days is fine
    expect((await alice('GET', `/v1/usage?since=${iso(T0)}&until=${iso(T0 + 366 * D)}`)).status).toBe(200);
  });
});
