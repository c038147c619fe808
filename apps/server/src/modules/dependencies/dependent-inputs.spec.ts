import { randomUUID } from 'node:crypto';
import type { Database } from '../../storage/database.js';
import { openDataflowStore, taskMaker } from '../../testing/dataflow-store.js';
import { CacheRepository } from '../cache/cache.repository.js';
import type { CacheService } from '../cache/cache.service.js';
import type { EventsService } from '../events/events.service.js';
import type { MetricsService } from '../metrics/metrics.service.js';
import type { OutcomeRow, TaskRow } from '../tasks/tasks.repository.js';
import type { TasksRepository } from '../tasks/tasks.repository.js';
import type { DependenciesService } from './dependencies.service.js';
import { OutcomesService } from './outcomes.service.js';

/**
 * What a dependent receives from its inputs, with the real statements on both stores (PostgreSQL and
 * the embedded PGlite): a memoized dependent is keyed by its arguments with its inputs' results in
 * place, so a second identical graph's dependent completes from the first one's result without being
 * queued; an input whose result is a pickle fails its JSON dependent before it runs, and downstream.
 * The queue and the events are recorders: what reaches the queue is what would reach an endpoint.
 */
const ref = (taskId: string) => ({ $fx: 'ref', taskId });

describe.each(['postgres', 'pglite'] as const)('dependents and their inputs on %s', (kind) => {
  const [owner, fn, ep] = [randomUUID(), randomUUID(), randomUUID()];
  const scope = `user:${owner}`;
  /** What reached the queue (ids), and the outcomes published. */
  let queued: string[];
  let published: OutcomeRow[];
  let store: Awaited<ReturnType<typeof openDataflowStore>> | undefined;
  let db: Database;
  let tasks: TasksRepository;
  let cache: CacheService;
  let service: DependenciesService;

  beforeAll(async () => {
    store = await openDataflowStore(kind, { owner, fn, ep, contentHash: 'hash-dep' });
    ({ db, tasks, cache, service, queued, published } = store);
  }, 60_000);

  afterAll(async () => {
    await store?.close();
  });

  const task = taskMaker({ owner, fn, ep });
  // findById reads every column (SELECT *); its type names fewer, so the cache columns are named here
  const get = async (id: string) => (await tasks.findById(id)) as TaskRow & { cache_key: string | null; cache_scope: string | null };
  /** An input ends as an agent's result would, and is handed to the dataflow rules as OutcomesService does. */
  const succeed = async (id: string, result: unknown, serializer = 'json') => {
    await db.prisma.$executeRawUnsafe(
      `UPDATE tasks SET status = 'success', result = $2::jsonb, serializer = $3, completed_at = now() WHERE id = $1::uuid`,
      id,
      JSON.stringify(result),
      serializer,
    );
    await service.settled([{ id, status: 'success' }]);
  };
  /** A graph: an input (not memoized) and a memoized dependent of its result. */
  const graph = async () => {
    const input = task([]);
    const dependent = task([{ n: ref(input.id) }, 'k'], [input.id], true);
    await tasks.insertMany(owner, randomUUID(), [input, dependent]);
    return { input: input.id, dependent: dependent.id };
  };

  it("runs a memoized dependent once, then completes an identical graph's dependent from its result without queueing it", async () => {
    const first = await graph();
    expect(await get(first.dependent)).toMatchObject({ status: 'waiting-for-dependencies', cache_key: null, cache_scope: scope });
    await succeed(first.input, 41);
    // it had no entry to meet: it holds its key's one execution, and is queued like any task
    expect(queued).toContain(first.dependent);
    const ran = await get(first.dependent);
    expect(ran).toMatchObject({ status: 'waiting-for-endpoint', args: [{ n: 41 }, 'k'], cached_from: null });
    expect(ran.cache_key).toMatch(/^[0-9a-f]{64}$/);
    // the key is the one a plain submission of the same arguments would have
    expect(ran.cache_key).toBe(cache.keyOf(scope, 'hash-dep', { args: [{ n: 41 }, 'k'], kwargs: {} }));
    await db.prisma.$executeRawUnsafe(
      `UPDATE tasks SET status = 'success', result = '"forty-one"'::jsonb, completed_at = now() WHERE id = $1::uuid`,
      first.dependent,
    );
    await cache.settled([{ id: first.dependent }]);

    const before = queued.length;
    const second = await graph();
    await succeed(second.input, 41);
    expect(queued.slice(before)).toEqual([]);
    const hit = await get(second.dependent);
    expect(hit).toMatchObject({ status: 'success', result: 'forty-one', cached_from: first.dependent, cache_key: ran.cache_key, args: [{ n: 41 }, 'k'] });
    expect(hit.dispatched_at).toBeNull();
    expect(published.find((o) => o.id === second.dependent)).toMatchObject({ status: 'success', cached_from: first.dependent, cached_from_owner: owner });

    // another result from the input is other arguments: it runs
    const third = await graph();
    await succeed(third.input, 42);
    expect(queued.slice(before)).toEqual([third.dependent]);
  });

  it('runs identical dependents that become ready together once, and completes the others with its result', async () => {
    const input = task([]);
    const [a, b] = [task([ref(input.id)], [input.id], true), task([ref(input.id)], [input.id], true)];
    await tasks.insertMany(owner, randomUUID(), [input, a, b]);
    const before = queued.length;
    await succeed(input.id, 'same');
    const started = queued.slice(before);
    expect(started).toHaveLength(1);
    const follower = started[0] === a.id ? b.id : a.id;
    expect((await get(follower)).status).toBe('received');
    await db.prisma.$executeRawUnsafe(`UPDATE tasks SET status = 'success', result = '1'::jsonb, completed_at = now() WHERE id = $1::uuid`, started[0]);
    const done = await cache.settled([{ id: started[0]! }]);
    expect(done).toEqual([expect.objectContaining({ id: follower, status: 'success', cached_from: started[0] })]);
  });

  it('fails a dependent whose inputs would make its arguments too large before building them, and runs one they fit', async () => {
    const input = task([]);
    // ten thousand references to one result of about 1 MB: 10 GB of arguments, refused from sizes alone
    const huge = task(
      Array.from({ length: 10_000 }, () => ref(input.id)),
      [input.id],
    );
    const fits = task([ref(input.id), ref(input.id)], [input.id]);
    await tasks.insertMany(owner, randomUUID(), [input, huge, fits]);
    const before = queued.length;
    const started = Date.now();
    await succeed(input.id, new Array(500_000).fill(0));
    // building it first took minutes of a blocked event loop (about 5×10⁹ nodes walked)
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(await get(huge.id)).toMatchObject({
      status: 'failed',
      error: {
        code: 'PAYLOAD_TOO_LARGE',
        name: 'ArgumentsTooLarge',
        message: expect.stringMatching(/^the arguments with their inputs' results in place are \d+ bytes/),
      },
    });
    expect(queued.slice(before)).toEqual([fits.id]);
    expect((await get(fits.id)).args).toHaveLength(2);
  }, 60_000);

  it('fails a JSON dependent of a pickled result with SERIALIZER_MISMATCH before it runs, and its dependents with DEPENDENCY_FAILED', async () => {
    const input = task([]);
    const dependent = task([ref(input.id)], [input.id]);
    const downstream = task([ref(dependent.id)], [dependent.id]);
    await tasks.insertMany(owner, randomUUID(), [input, dependent, downstream]);
    const before = queued.length;
    await succeed(input.id, { $fx: 'pickle', python: '3.12', pickler: 'pickle', data: 'gAR=' }, 'pickle');
    expect(queued.slice(before)).toEqual([]);
    expect(await get(dependent.id)).toMatchObject({
      status: 'failed',
      error: { code: 'SERIALIZER_MISMATCH', name: 'PickledInput', message: expect.stringContaining(`input ${input.id} returned a pickled result`) },
    });
    expect(await get(downstream.id)).toMatchObject({
      status: 'failed',
      error: { code: 'DEPENDENCY_FAILED', dependency: { taskId: dependent.id, code: 'SERIALIZER_MISMATCH' } },
    });
  });

  it("fills a memoized result's entry before its outcome is published, so a client holding the result can clear it", async () => {
    const entries = new CacheRepository(db);
    await entries.clear('hash-dep', [scope]); // the entries earlier tests left
    const input = task([]);
    const dependent = task(['publish-order'], [input.id], true);
    await tasks.insertMany(owner, randomUUID(), [input, dependent]);
    await succeed(input.id, 'ready');
    const ran = await get(dependent.id);
    expect(ran.status).toBe('waiting-for-endpoint');
    await db.prisma.$executeRawUnsafe(`UPDATE tasks SET status = 'success', result = '7'::jsonb, completed_at = now() WHERE id = $1::uuid`, dependent.id);
    // what clearCache would clear at the moment the client is told of the result
    const clearable: number[] = [];
    const publisher = {
      publishOutcomes: async (rows: OutcomeRow[]) => {
        if (rows.some((r) => r.id === dependent.id)) clearable.push(await entries.clear('hash-dep', [scope]));
      },
    } as unknown as EventsService;
    const metrics = { finished: () => undefined } as unknown as MetricsService;
    const outcomes = new OutcomesService(publisher, service, cache, metrics);
    await outcomes.published([{ id: dependent.id, status: 'success' } as OutcomeRow]);
    expect(clearable).toEqual([1]);
  });
});
