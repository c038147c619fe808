import { randomUUID } from 'node:crypto';
import type { Database } from '../../storage/database.js';
import { openTestStore } from '../../testing/test-store.js';
import { TasksRepository } from '../tasks/tasks.repository.js';
import { CacheRepository } from './cache.repository.js';

/**
 * The memoized-result statements on the stores FX runs on (PostgreSQL and the embedded PGlite): the
 * insert that completes hits at once, the claim of one execution per key, filling and dropping an
 * entry, the followers that complete or run, expiry and clearing.
 */
describe.each(['postgres', 'pglite'] as const)('memoized-result statements on %s', (kind) => {
  let store: Awaited<ReturnType<typeof openTestStore>> | undefined;
  let db: Database;
  let tasks: TasksRepository;
  let cache: CacheRepository;
  const owner = randomUUID();
  const fn = randomUUID();
  const ep = randomUUID();

  beforeAll(async () => {
    store = await openTestStore(kind);
    db = store.db;
    tasks = new TasksRepository(db);
    cache = new CacheRepository(db);
    await db.prisma.user.create({ data: { id: owner, name: `u-${owner.slice(0, 8)}` } });
    await db.prisma.function.create({ data: { id: fn, ownerId: owner, name: 'f', runtime: 'js', source: '() => 1', contentHash: 'hash-f' } });
    // the owner's own endpoint: only executions there fill the owner's entries
    await db.prisma.endpoint.create({ data: { id: ep, ownerId: owner, name: 'e' } });
  }, 60_000);

  afterAll(async () => {
    await store?.close();
  });

  const task = (key: string | null, id = randomUUID(), ttlSeconds = 60) => ({
    id,
    functionId: fn,
    endpointId: ep,
    args: [key],
    kwargs: {},
    ...(key ? { cache: { key, scope: `user:${owner}`, ttlSeconds } } : {}),
  });
  const status = async (id: string) => (await tasks.findById(id))!.status;
  const finish = (id: string, status: 'success' | 'failed', result: unknown = null) =>
    db.prisma.$executeRawUnsafe(
      `UPDATE tasks SET status = $2, result = $3::jsonb, completed_at = now() WHERE id = $1::uuid`,
      id,
      status,
      JSON.stringify(result),
    );

  // first: it needs a store with nothing memoized yet
  it('says which repair steps may find anything: none on a store with nothing memoized, then each for its own case', async () => {
    expect(await cache.repairsDue(0)).toEqual({ pending: false, waiting: false, expired: false });
    const key = randomUUID();
    const follower = task(key);
    await tasks.insertMany(owner, null, [follower]);
    // a task waiting for its key: the stranded step's case once it has waited long enough
    expect(await cache.repairsDue(0)).toEqual({ pending: false, waiting: true, expired: false });
    expect(await cache.repairsDue(3600)).toEqual({ pending: false, waiting: false, expired: false });
    await cache.claimOrphans([key]);
    expect(await cache.repairsDue(0)).toEqual({ pending: true, waiting: false, expired: false });
    await finish(follower.id, 'success', 'done');
    await cache.settle([follower.id]);
    expect(await cache.repairsDue(0)).toEqual({ pending: false, waiting: false, expired: false });
    await db.prisma.$executeRawUnsafe(`UPDATE task_cache SET expires_at = now() - interval '1 second' WHERE key = $1`, key);
    expect(await cache.repairsDue(0)).toEqual({ pending: false, waiting: false, expired: true });
    expect(await cache.deleteExpired(1000)).toBe(1);
    expect(await cache.repairsDue(0)).toEqual({ pending: false, waiting: false, expired: false });
  });

  it('runs one of several identical tasks, fills the entry with its result, and completes the others from it', async () => {
    const key = randomUUID();
    const [a, b, c] = [task(key), task(key), task(key)];
    await tasks.insertMany(owner, null, [a, b, c]);
    expect(await Promise.all([a, b, c].map((t) => status(t.id)))).toEqual(['received', 'received', 'received']);
    // two replicas claim at once: one execution
    const [one, two] = await Promise.all([cache.claimOrphans([key]), cache.claimOrphans([key])]);
    const claimed = [...one, ...two];
    expect(claimed).toHaveLength(1);
    const leader = claimed[0]!.id;
    expect(await status(leader)).toBe('waiting-for-endpoint');
    expect(await cache.completeFollowers([key])).toEqual([]);

    await finish(leader, 'success', { v: 42 });
    expect(await cache.settle([leader])).toEqual([{ key, how: 'filled' }]);
    expect(await cache.settle([leader])).toEqual([]);
    const done = await cache.completeFollowers([key]);
    expect(done.map((r) => r.id).sort()).toEqual(
      [a, b, c]
        .map((t) => t.id)
        .filter((id) => id !== leader)
        .sort(),
    );
    // with the source's owner, which decides who may see cached_from (cached-source.ts)
    expect(done[0]).toMatchObject({ status: 'success', result: { v: 42 }, cached_from: leader, cached_from_owner: owner });

    // a later identical task is a success as it goes in
    const d = task(key);
    await tasks.insertMany(owner, null, [d, task(null)]);
    expect(await tasks.findById(d.id)).toMatchObject({ status: 'success', result: { v: 42 }, cached_from: leader, cached_from_owner: owner });
  });

  it('returns from the insert only the tasks that missed (the hits have nothing left to do), and starts one per key', async () => {
    const [hit, miss] = [randomUUID(), randomUUID()];
    const first = task(hit);
    await tasks.insertMany(owner, null, [first]);
    await cache.claimOrphans([hit]);
    await finish(first.id, 'success', 1);
    await cache.settle([first.id]);
    const [again, m1, m2] = [task(hit), task(miss), task(miss)];
    expect((await tasks.insertMany(owner, null, [again, m1, m2, task(null)])).sort()).toEqual([m1.id, m2.id].sort());
    expect(await tasks.insertMany(owner, null, [task(null)])).toEqual([]);
    const started = await cache.startTasks([m1.id, m2.id]);
    expect(started.queued).toHaveLength(1);
    expect(started.completed).toEqual([]);
    expect((await cache.startTasks([m1.id, m2.id])).queued).toEqual([]);
    await finish(started.queued[0]!.id, 'success', 2);
    await cache.settle([started.queued[0]!.id]);
    // the other one, still waiting: completed from the entry when started again (as after a lost race)
    expect((await cache.startTasks([m1.id, m2.id])).completed).toEqual([expect.objectContaining({ status: 'success', result: 2 })]);
  });

  it('lets the waiting tasks run themselves when the execution they waited for fails, and fills from the first success', async () => {
    const key = randomUUID();
    const [a, b, c] = [task(key), task(key), task(key)];
    await tasks.insertMany(owner, null, [a, b, c]);
    const [leader] = await cache.claimOrphans([key]);
    await finish(leader!.id, 'failed');
    expect(await cache.settle([leader!.id])).toEqual([{ key, how: 'dropped' }]);
    const released = await cache.releaseFollowers([key]);
    expect(released).toHaveLength(2);
    await finish(released[0]!.id, 'success', 7);
    await finish(released[1]!.id, 'success', 8);
    // both in one frame: one fills the entry
    expect(await cache.settle(released.map((r) => r.id))).toEqual([{ key, how: 'filled' }]);
    const e = task(key);
    await tasks.insertMany(owner, null, [e]);
    expect([7, 8]).toContain((await tasks.findById(e.id))!.result);
  });

  it('repairs: an execution that ended unnoticed, waiting tasks with nothing to wait for', async () => {
    const key = randomUUID();
    const [a, b] = [task(key), task(key)];
    await tasks.insertMany(owner, null, [a, b]);
    const [leader] = await cache.claimOrphans([key]);
    await finish(leader!.id, 'success', 'ok');
    expect(await cache.endedHolders(1000)).toContain(leader!.id);
    await cache.settle(await cache.endedHolders(1000));
    expect(await cache.endedHolders(1000)).not.toContain(leader!.id);

    const lone = randomUUID();
    const stranded = task(lone);
    await tasks.insertMany(owner, null, [stranded]);
    expect(await cache.strandedKeys(0, 1000)).toContain(lone);
    expect(await cache.claimOrphans([lone])).toEqual([{ id: stranded.id, endpoint_id: ep, owner_id: owner, priority: 5 }]);
    expect(await cache.strandedKeys(0, 1000)).not.toContain(lone);
  });

  it('expires each entry on its own and clears by content hash and scope', async () => {
    const [k1, k2] = [randomUUID(), randomUUID()];
    const short = task(k1, randomUUID(), 1);
    const long = task(k2, randomUUID(), 3600);
    await tasks.insertMany(owner, null, [short, long]);
    await cache.claimOrphans([k1, k2]);
    await finish(short.id, 'success', 1);
    await finish(long.id, 'success', 2);
    await cache.settle([short.id, long.id]);
    await new Promise((r) => setTimeout(r, 1_100));
    const [again1, again2] = [task(k1), task(k2)];
    await tasks.insertMany(owner, null, [again1, again2]);
    expect(await status(again1.id)).toBe('received');
    expect(await status(again2.id)).toBe('success');
    expect(await cache.deleteExpired(1000)).toBeGreaterThanOrEqual(1);

    expect(await cache.clear('hash-f', [`user:${randomUUID()}`])).toBe(0);
    expect(await cache.clear('hash-f', [`user:${owner}`])).toBeGreaterThanOrEqual(1);
    const third = task(k2);
    await tasks.insertMany(owner, null, [third]);
    expect(await status(third.id)).toBe('received');
  });

  it("lets another user's task of a shared function read ready entries only: it neither claims nor waits on one, and runs itself", async () => {
    const other = randomUUID();
    await db.prisma.user.create({ data: { id: other, name: `u-${other.slice(0, 8)}` } });
    const shared = (key: string) => ({ ...task(null), args: [key], cache: { key, scope: `shared:${owner}`, ttlSeconds: 60 } });
    const ids = (rows: Array<{ id: string }>) => rows.map((r) => r.id);
    const [k1, k2] = [randomUUID(), randomUUID()];
    // alone with its key: it runs itself, holding no entry (which would hold the owner's identical tasks)
    const lone = shared(k1);
    await tasks.insertMany(other, null, [lone]);
    expect(await cache.claimOrphans([k1])).toEqual([]);
    expect(ids((await cache.startTasks([lone.id])).queued)).toEqual([lone.id]);
    expect(await status(lone.id)).toBe('waiting-for-endpoint');
    const ownerTask = shared(k1);
    await tasks.insertMany(owner, null, [ownerTask]);
    expect(ids(await cache.claimOrphans([k1]))).toEqual([ownerTask.id]);
    // beside the owner's execution of the same key: it does not wait for it (that would say it runs now)
    const beside = shared(k1);
    await tasks.insertMany(other, null, [beside]);
    expect(ids((await cache.startTasks([beside.id])).queued)).toEqual([beside.id]);
    // its own success fills nothing; the owner's does, and it then completes from that
    await finish(lone.id, 'success', 'other');
    expect(await cache.settle([lone.id])).toEqual([]);
    await finish(ownerTask.id, 'success', 'owner');
    expect(await cache.settle([ownerTask.id])).toEqual([{ key: k1, how: 'filled' }]);
    const hit = shared(k1);
    await tasks.insertMany(other, null, [hit]);
    expect(await tasks.findById(hit.id)).toMatchObject({ status: 'success', result: 'owner', cached_from: ownerTask.id, cached_from_owner: owner });
    // one a crash left waiting before its start runs itself at the sweep
    const stranded = shared(k2);
    await tasks.insertMany(other, null, [stranded]);
    expect(await cache.strandedKeys(0, 1000)).not.toContain(k2);
    expect(ids(await cache.releaseReaders(0, 1000))).toContain(stranded.id);
    expect(await status(stranded.id)).toBe('waiting-for-endpoint');
  });
});
