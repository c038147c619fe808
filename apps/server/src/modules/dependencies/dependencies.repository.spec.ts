import { randomUUID } from 'node:crypto';
import type { Database } from '../../storage/database.js';
import { openTestStore } from '../../testing/test-store.js';
import { TasksRepository } from '../tasks/tasks.repository.js';
import { DependenciesRepository } from './dependencies.repository.js';
import { dependencyFailure, substituteInputs } from './dependency-rules.js';

/**
 * The dataflow statements on the stores FX runs on: PostgreSQL and the embedded PGlite (the embedded
 * PostgreSQL server runs the same SQL as the first). Each store gets the migrations applied from scratch.
 */
const ref = (taskId: string) => ({ $fx: 'ref', taskId });

describe.each(['postgres', 'pglite'] as const)('dataflow statements on %s', (kind) => {
  let store: Awaited<ReturnType<typeof openTestStore>> | undefined;
  let db: Database;
  let tasks: TasksRepository;
  let deps: DependenciesRepository;
  const owner = randomUUID();
  const fn = randomUUID();
  const ep = randomUUID();

  beforeAll(async () => {
    store = await openTestStore(kind);
    db = store.db;
    tasks = new TasksRepository(db);
    deps = new DependenciesRepository(db);
  }, 60_000);

  afterAll(async () => {
    await store?.close();
  });

  const node = (id: string, args: unknown[], inputs: string[] = []) => ({ id, functionId: fn, endpointId: ep, args, kwargs: {}, inputs });
  const status = async (id: string) => (await tasks.findById(id))!.status;
  const succeed = (id: string, result: unknown) =>
    db.prisma.$executeRawUnsafe(
      `UPDATE tasks SET status = 'success', result = $2::jsonb, completed_at = now() WHERE id = $1::uuid`,
      id,
      JSON.stringify(result),
    );

  it('stores a diamond with its edges in one statement and makes each dependent ready once, when its last input succeeds', async () => {
    const [a, b, c, d] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    await tasks.insertMany(owner, randomUUID(), [node(a, [1]), node(b, [ref(a)], [a]), node(c, [{ x: ref(a) }], [a]), node(d, [ref(b), ref(c)], [b, c])]);
    expect(await Promise.all([a, b, c, d].map(status))).toEqual([
      'waiting-for-endpoint',
      'waiting-for-dependencies',
      'waiting-for-dependencies',
      'waiting-for-dependencies',
    ]);
    expect(await deps.readyCandidates({ inputIds: [a] }, 10)).toEqual([]);

    await succeed(a, { v: 2 });
    const ready = await deps.readyCandidates({ inputIds: [a] }, 10);
    expect(ready.map((r) => r.id).sort()).toEqual([b, c].sort());
    const results = new Map((await deps.results([a])).map((r) => [r.id, r.result]));
    const rows = ready.map((r) => {
      const s = substituteInputs(r, results, 1e6);
      if (!s.ok) throw new Error('not substituted');
      return { id: r.id, args: s.args, kwargs: s.kwargs };
    });
    // two replicas promote the same rows at once: each moves once
    const [first, second] = await Promise.all([deps.promote(rows), deps.promote(rows)]);
    expect([...first, ...second].map((r) => r.id).sort()).toEqual([b, c].sort());
    expect((await tasks.findById(c))!).toMatchObject({ status: 'waiting-for-endpoint', args: [{ x: { v: 2 } }] });
    expect((await tasks.findById(c))!.ready_at).not.toBeNull();

    await succeed(b, 'b');
    expect(await deps.readyCandidates({ inputIds: [b] }, 10)).toEqual([]); // c is not done yet
    await succeed(c, 'c');
    expect((await deps.readyCandidates('all', 10)).map((r) => r.id)).toEqual([d]);
  });

  it('finds the dependents of a failed input, ends them once, and the sweep finds what was left', async () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    await tasks.insertMany(owner, null, [node(a, []), node(b, [ref(a)], [a]), node(c, [ref(b)], [b])]);
    await db.prisma.$executeRawUnsafe(
      `UPDATE tasks SET status = 'failed', completed_at = now(), error = '{"code":"TASK_ERROR","name":"E","message":"m"}'::jsonb WHERE id = $1::uuid`,
      a,
    );
    expect(await deps.failedInputsWithWaitingDependents(100)).toContain(a);
    const doomed = await deps.doomedDependents([a], 10);
    expect(doomed).toEqual([{ id: b, input_id: a, input_status: 'failed', input_error: { code: 'TASK_ERROR', name: 'E', message: 'm' } }]);
    const rows = doomed.map((x) => ({ id: x.id, ...dependencyFailure({ id: x.input_id, status: x.input_status, error: x.input_error }) }));
    const [one, two] = await Promise.all([deps.finish(rows), deps.finish(rows)]);
    expect([...one, ...two]).toHaveLength(1);
    expect(one.concat(two)[0]).toMatchObject({ id: b, status: 'failed', error: { code: 'DEPENDENCY_FAILED', dependency: { taskId: a, code: 'TASK_ERROR' } } });
    // the next level: c waits on b, which has now failed
    expect((await deps.doomedDependents([b], 10)).map((x) => x.id)).toEqual([c]);
    expect(await deps.failedInputsWithWaitingDependents(100)).not.toContain(a);
  });

  it('purges a finished input only once its dependents have ended, with its edges', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await tasks.insertMany(owner, null, [node(a, []), node(b, [ref(a)], [a])]);
    await succeed(a, 1);
    const later = new Date(Date.now() + 60_000);
    await tasks.purgeCompletedBefore(later);
    expect(await tasks.findById(a)).not.toBeNull();
    await succeed(b, 2);
    await tasks.purgeCompletedBefore(later);
    expect(await tasks.findById(a)).toBeNull();
    const edges = await db.prisma.$queryRawUnsafe<unknown[]>(`SELECT 1 FROM task_dependencies WHERE task_id = $1::uuid OR input_id = $1::uuid`, a);
    expect(edges).toEqual([]);
  });
});
