import { jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { openDataflowStore, taskMaker } from '../../testing/dataflow-store.js';
import { insertRow, type ResultInput } from '../tasks/task-records.js';
import { json, submissionInsert } from '../tasks/task-sql.js';
import type { TaskRow } from '../tasks/tasks.repository.js';

/**
 * The signal that lets a plain task skip the lookup of its dependents (issue 18): `has_dependents`, set
 * on an open input by the statement that records an edge to it and returned by the results' statement
 * (mayHaveDependents says why that is enough). On both stores; the races, which need two connections,
 * on PostgreSQL.
 */
const ref = (taskId: string) => ({ $fx: 'ref', taskId });
const CONN = 'conn-1';

describe.each(['postgres', 'pglite'] as const)('has_dependents on %s', (kind) => {
  const [owner, fn, ep] = [randomUUID(), randomUUID(), randomUUID()];
  let store: Awaited<ReturnType<typeof openDataflowStore>>;
  beforeAll(async () => {
    store = await openDataflowStore(kind, { owner, fn, contentHash: 'hash-hd' });
  }, 60_000);

  afterEach(() => jest.restoreAllMocks());

  afterAll(async () => {
    await store.close();
  });

  const task = taskMaker({ owner, fn, ep });
  const flag = async (id: string) => ((await store.tasks.findById(id)) as TaskRow & { has_dependents: boolean }).has_dependents;
  /** The input runs on this connection's agent, as after a dispatch. */
  const running = (id: string) => store.db.prisma.$executeRawUnsafe(`UPDATE tasks SET status = 'running', lease_owner = $2 WHERE id = $1::uuid`, id, CONN);
  const success = (id: string, result: unknown = 1): ResultInput => ({ taskId: id, status: 'success', result, timings: {} as ResultInput['timings'] });
  const record = async (...results: ResultInput[]) => (await store.tasks.recordResults(ep, CONN, results)).outcomes;

  it('is set on the open inputs an edge is recorded to (in the submission or earlier), not on final ones, and comes back with the result', async () => {
    const [open, done, plain] = [task([]), task([]), task([])];
    await store.tasks.insertMany(owner, null, [open, done, plain]);
    await store.db.prisma.$executeRawUnsafe(`UPDATE tasks SET status = 'success', result = '2'::jsonb, completed_at = now() WHERE id = $1::uuid`, done.id);
    const inner = task([]);
    const memoInner = task([], [], true);
    const dependent = task([ref(inner.id), ref(open.id), ref(done.id), ref(memoInner.id)], [inner.id, open.id, done.id, memoInner.id]);
    await store.tasks.insertMany(owner, randomUUID(), [inner, memoInner, dependent]);
    expect(await Promise.all([open, done, plain, inner, memoInner, dependent].map((t) => flag(t.id)))).toEqual([true, false, false, true, true, false]);

    // leased to this connection, as a result needs (one for a task that merely waits is not recorded)
    for (const t of [open, plain]) await running(t.id);
    const outcomes = await record(success(open.id), success(plain.id));
    expect(Object.fromEntries(outcomes.map((o) => [o.id, o.has_dependents]))).toEqual({ [open.id]: true, [plain.id]: false });
  });

  it('looks up no dependents for tasks whose result says they have none, and promotes those of a task that has', async () => {
    const input = task([]);
    await store.tasks.insertMany(owner, null, [input]);
    await running(input.id);
    const dependent = task([ref(input.id)], [input.id]);
    await store.tasks.insertMany(owner, null, [dependent]);
    await store.service.submitted([dependent.id], [input.id]); // the submission's own look: its input is still running
    const [plain, failing] = [task([]), task([])];
    await store.tasks.insertMany(owner, null, [plain, failing]);
    const lookups = jest.spyOn(store.deps, 'readyCandidates');
    const doomed = jest.spyOn(store.deps, 'doomedDependents');

    const failure = { taskId: failing.id, status: 'failed', error: { code: 'TASK_ERROR', name: 'E', message: 'm' }, timings: {} } as ResultInput;
    for (const t of [plain, failing]) await running(t.id);
    await store.service.settled(await record(success(plain.id), failure));
    expect(lookups).not.toHaveBeenCalled();
    expect(doomed).not.toHaveBeenCalled();

    await store.service.settled(await record(success(input.id, 5)));
    expect(lookups).toHaveBeenCalledTimes(1);
    expect(lookups.mock.calls[0]![0]).toEqual({ inputIds: [input.id] });
    expect(store.queued).toContain(dependent.id);
    expect(await store.tasks.findById(dependent.id)).toMatchObject({ status: 'waiting-for-endpoint', args: [5] });

    // an outcome from a statement that does not say (a resend, a cancel) is looked up, as before
    await store.service.settled([{ id: plain.id, status: 'success' }]);
    expect(lookups).toHaveBeenCalledTimes(2);
  });

  if (kind !== 'postgres') return;

  /** A submission's statement in a transaction held open on a connection of its own. */
  const holding = async (sql: string, ...params: unknown[]) => {
    const client = new pg.Client({ connectionString: store.url });
    await client.connect();
    await client.query('BEGIN');
    await client.query(sql, params);
    return {
      commit: async () => {
        await client.query('COMMIT');
        await client.end();
      },
    };
  };
  const blocked = async (p: Promise<unknown>) => {
    const pending = Symbol('pending');
    return (await Promise.race([p, new Promise((r) => setTimeout(() => r(pending), 300))])) === pending;
  };

  it('a result recorded while a submission of a dependent is uncommitted waits for it and comes back flagged', async () => {
    const input = task([]);
    await store.tasks.insertMany(owner, null, [input]);
    await running(input.id);
    const dependent = task([ref(input.id)], [input.id]);
    const submission = await holding(submissionInsert({ graph: true, refers: false, memo: false }), json([insertRow(dependent)]), owner, null, json({}));
    const recorded = record(success(input.id, 7));
    expect(await blocked(recorded)).toBe(true);
    await submission.commit();
    const [outcome] = await recorded;
    expect(outcome).toMatchObject({ id: input.id, status: 'success', has_dependents: true });
    await store.service.settled([outcome!]);
    expect(await store.tasks.findById(dependent.id)).toMatchObject({ status: 'waiting-for-endpoint', args: [7] });
  });

  it('a submission recorded while the result is uncommitted finds its input final, and its own look after the commit promotes the dependent', async () => {
    const input = task([]);
    await store.tasks.insertMany(owner, null, [input]);
    await running(input.id);
    const result = await holding(
      `UPDATE tasks SET status = 'success', result = '8'::jsonb, completed_at = now(), lease_owner = NULL WHERE id = $1::uuid`,
      input.id,
    );
    const dependent = task([ref(input.id)], [input.id]);
    const inserted = store.tasks.insertMany(owner, null, [dependent]);
    expect(await blocked(inserted)).toBe(true);
    await result.commit();
    await inserted;
    expect(await flag(input.id)).toBe(false);
    await store.service.submitted([dependent.id], [input.id]);
    expect(await store.tasks.findById(dependent.id)).toMatchObject({ status: 'waiting-for-endpoint', args: [8] });
  });
});
