import { jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Client, NotFoundError, TaskFailedError } from '@fx/sdk';
import { EndpointProcess, FX_ROOT, ServerProcess, eventually, sleep } from '@fx/testing';

/**
 * map and task groups (issue 14) with real processes on PostgreSQL + Redis: client.map over 5,000 items
 * through a small window, in order and as completed; a consumer that stops early leaves nothing
 * running and submits nothing more; a client that exits and a new one that re-attaches to its batch by
 * group id; groups are private to their owner.
 */
jest.setTimeout(300_000);

describe('map and task groups', () => {
  let server: ServerProcess;
  let ep: EndpointProcess;
  let alice: Client;
  let bob: Client;
  let aliceToken: string;
  let double: string;
  let slow: string;
  const logs = () => `--- server ---\n${server?.log()}\n--- endpoint ---\n${ep?.log()}`;

  beforeAll(async () => {
    server = await ServerProcess.start('postgres+redis');
    const admin = new Client({ url: server.url, token: server.adminToken });
    const [a, b] = await Promise.all(['alice', 'bob'].map((name) => admin.createUser({ name })));
    const [aToken, bToken] = await Promise.all([a!, b!].map(async (u) => (await admin.createToken(u.id)).token));
    admin.close();
    aliceToken = aToken!;
    alice = new Client({ url: server.url, token: aliceToken });
    bob = new Client({ url: server.url, token: bToken! });
    ep = await EndpointProcess.configure(server, 'mapper', { workers: 2, token: aliceToken });
    ep.start();
    await eventually(async () => (await alice.getEndpoint(ep.endpointId)).state === 'online', 30_000, 'endpoint online').catch((e) => {
      throw new Error(`${(e as Error).message}\n${logs()}`);
    });
    double = await alice.registerFunction((x: number) => 2 * x, { name: 'double' });
    slow = await alice.registerFunction((x: number) => new Promise((r) => setTimeout(() => r(x), 300)), { name: 'slow' });
  });

  afterAll(async () => {
    alice?.close();
    bob?.close();
    await ep?.stop();
    await server?.stop();
  });

  it('maps 5,000 items through a window of 300, in order, from a generator', async () => {
    let produced = 0;
    function* items() {
      for (let i = 0; i < 5000; i++) {
        produced++;
        yield i;
      }
    }
    let groupId = '';
    const got: number[] = [];
    let maxAhead = 0;
    for await (const value of alice.map<number>(double, ep.endpointId, items(), { chunkSize: 100, window: 300, onGroup: (id) => (groupId = id) })) {
      got.push(value);
      // the source is read only as far as the window allows
      maxAhead = Math.max(maxAhead, produced - got.length);
    }
    expect(got).toEqual(Array.from({ length: 5000 }, (_, i) => 2 * i));
    expect(maxAhead).toBeLessThanOrEqual(300);
    const group = await alice.group(groupId).describe();
    expect(group).toMatchObject({ id: groupId, kind: 'map', counts: { total: 5000, byStatus: { success: 5000 } } });
  });

  it('maps 5,000 items as completed (ordered: false), from an async iterable', async () => {
    async function* items() {
      for (let i = 0; i < 5000; i++) {
        if (i % 1000 === 0) await sleep(1);
        yield i;
      }
    }
    const seen = new Set<number>();
    for await (const { index, outcome } of alice.mapOutcomes(double, ep.endpointId, items(), { chunkSize: 250, window: 500, ordered: false })) {
      expect(outcome).toMatchObject({ status: 'success', result: 2 * index });
      seen.add(index);
    }
    expect(seen.size).toBe(5000);
  });

  it('a consumer that stops early: nothing more is submitted and what remains is cancelled', async () => {
    let produced = 0;
    function* items() {
      for (let i = 0; ; i++) {
        produced++;
        yield i;
      }
    }
    let groupId = '';
    const got: number[] = [];
    for await (const value of alice.map<number>(slow, ep.endpointId, items(), { chunkSize: 10, window: 40, onGroup: (id) => (groupId = id) })) {
      got.push(value);
      if (got.length === 3) break;
    }
    expect(got).toEqual([0, 1, 2]);
    expect(produced).toBeLessThanOrEqual(40 + 3);
    const group = alice.group(groupId);
    const settled = await eventually(
      async () => {
        const info = await group.describe();
        return info.counts.total === (info.counts.byStatus.success ?? 0) + (info.counts.byStatus.cancelled ?? 0) && info;
      },
      30_000,
      'every task of the map success or cancelled',
    );
    expect(settled.counts.total).toBeLessThanOrEqual(43);
    expect(settled.counts.byStatus.cancelled).toBeGreaterThan(0);
    await sleep(1000);
    expect((await group.describe()).counts.total).toBe(settled.counts.total);
    // the listing agrees, oldest first, in one page
    const page = await group.tasks({ limit: 1000 });
    expect(page.items).toHaveLength(settled.counts.total);
    expect(page.nextCursor).toBeNull();
  });

  it('a failed task ends client.map with TaskFailedError and cancels the rest', async () => {
    const picky = await alice.registerFunction(
      (x: number) => {
        if (x === 5) throw new RangeError('five');
        return new Promise((r) => setTimeout(() => r(x), 100));
      },
      { name: 'picky' },
    );
    let groupId = '';
    const run = async () => {
      for await (const _ of alice.map(
        picky,
        ep.endpointId,
        Array.from({ length: 200 }, (_, i) => i),
        { chunkSize: 20, window: 60, onGroup: (id) => (groupId = id) },
      )) {
        // consume
      }
    };
    await expect(run()).rejects.toBeInstanceOf(TaskFailedError);
    const info = await eventually(async () => {
      const g = await alice.group(groupId).describe();
      return g.counts.total === (g.counts.byStatus.success ?? 0) + (g.counts.byStatus.failed ?? 0) + (g.counts.byStatus.cancelled ?? 0) && g;
    });
    expect(info.counts.total).toBeLessThan(200);
    expect(info.counts.byStatus.failed).toBe(1);
  });

  it('re-attaches to a batch after the process that submitted it exited', async () => {
    const script = `
      import { Client } from '@fx/sdk';
      const client = new Client({ url: process.env.FX_URL, token: process.env.FX_TOKEN });
      const items = Array.from({ length: 100 }, (_, i) => ({ functionId: process.env.FN, args: [i] }));
      await client.runBatch(process.env.EP, items, { onAccepted: (a) => console.log(a.batchId) });
      client.close();`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: FX_ROOT,
      env: { PATH: process.env.PATH, FX_URL: server.url, FX_TOKEN: aliceToken, FN: slow, EP: ep.endpointId },
      timeout: 60_000,
    });
    const groupId = stdout.trim();
    expect(groupId).toMatch(/^[0-9a-f-]{36}$/);
    // a new client, knowing only the group id
    const again = new Client({ url: server.url, token: aliceToken });
    try {
      const values = new Map<string, unknown>();
      for await (const o of again.group(groupId).results({ window: 1000 })) {
        expect(o.status).toBe('success');
        values.set(o.taskId, o.result);
      }
      expect(values.size).toBe(100);
      expect([...values.values()].sort((a, b) => (a as number) - (b as number))).toEqual(Array.from({ length: 100 }, (_, i) => i));
      expect((await again.group(groupId).describe()).counts).toEqual({ byStatus: { success: 100 }, total: 100 });
    } finally {
      again.close();
    }
  });

  it("keeps groups private: another user's group is 404 to read, cancel or join", async () => {
    let groupId = '';
    const [taskId] = await alice.runBatch(ep.endpointId, [{ functionId: double, args: [1] }], { onAccepted: (a) => (groupId = a.batchId) });
    await alice.getResult(taskId!, { timeoutMs: 30_000 });
    const foreign = bob.group(groupId);
    await expect(foreign.describe()).rejects.toBeInstanceOf(NotFoundError);
    await expect(foreign.tasks()).rejects.toBeInstanceOf(NotFoundError);
    await expect(foreign.cancel()).rejects.toBeInstanceOf(NotFoundError);
    const bobsFn = await bob.registerFunction((x: number) => x, { name: 'same' });
    const bobsEp = await bob.registerEndpoint({ name: 'bobs' });
    await expect(bob.runBatch(bobsEp.endpoint.id, [{ functionId: bobsFn }], { groupId })).rejects.toBeInstanceOf(NotFoundError);
    expect((await alice.group(groupId).describe()).counts.total).toBe(1);
  });

  it('a batch of several requests is one group; more batches may join it', async () => {
    const accepted: string[] = [];
    const small = new Client({ url: server.url, token: aliceToken, maxRequestBytes: 20_000 });
    try {
      const items = Array.from({ length: 1500 }, (_, i) => ({ functionId: double, args: [i] }));
      await small.runBatch(ep.endpointId, items, { onAccepted: (a) => accepted.push(a.batchId) });
      expect(accepted.length).toBeGreaterThan(1);
      expect(new Set(accepted).size).toBe(1);
      await small.runBatch(ep.endpointId, [{ functionId: double, args: [0] }], { groupId: accepted[0]! });
      const all: string[] = [];
      for await (const t of small.group(accepted[0]!).list()) all.push(t.id);
      expect(new Set(all).size).toBe(1501);
    } finally {
      small.close();
    }
  });
});
