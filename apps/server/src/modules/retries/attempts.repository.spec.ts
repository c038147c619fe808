import { randomUUID } from 'node:crypto';
import { RetryPolicy } from '@fx/protocol';
import type { Database } from '../../storage/database.js';
import { openTestStore } from '../../testing/test-store.js';
import { TasksRepository } from '../tasks/tasks.repository.js';
import { LeasesRepository } from '../leases/leases.repository.js';
import { AttemptsRepository } from './attempts.repository.js';

/**
 * The retry and attempt statements on both stores FX runs on (PostgreSQL; the embedded PGlite), each
 * with the migrations applied from scratch: a retried attempt is archived and its task waits out the
 * backoff, is queued again once, and a lost lease leaves an attempt record too.
 */
const error = { code: 'TASK_ERROR' as const, name: 'Error', message: 'boom' };

describe.each(['postgres', 'pglite'] as const)('retry statements on %s', (kind) => {
  let store: Awaited<ReturnType<typeof openTestStore>> | undefined;
  let db: Database;
  let tasks: TasksRepository;
  let leases: LeasesRepository;
  let attempts: AttemptsRepository;
  const owner = randomUUID();
  const fn = randomUUID();
  const ep = randomUUID();
  const retry = RetryPolicy.parse({ maxAttempts: 3, backoffSeconds: 30, on: ['TASK_ERROR'] });

  beforeAll(async () => {
    store = await openTestStore(kind);
    db = store.db;
    tasks = new TasksRepository(db);
    leases = new LeasesRepository(db);
    attempts = new AttemptsRepository(db);
  }, 60_000);

  afterAll(async () => {
    await store?.close();
  });

  const submit = async () => {
    const id = randomUUID();
    await tasks.insertMany(owner, null, [{ id, functionId: fn, endpointId: ep, args: [], kwargs: {}, retry }]);
    return id;
  };

  it('archives a retried attempt, waits out the backoff, and queues the task again exactly once', async () => {
    const id = await submit();
    expect((await leases.grant(ep, [id], 'conn-1', 60_000)).map((r) => r.attempt)).toEqual([0]);
    const [candidate] = await attempts.candidates([{ taskId: id, attempt: 0 }]);
    expect(candidate).toMatchObject({ id, status: 'dispatched', lease_owner: 'conn-1', attempt: 0, retries: 0, retry, retried_since: false });

    // another connection, or another attempt than the one leased, moves nothing
    expect(await attempts.scheduleRetries(ep, 'conn-2', [{ taskId: id, attempt: 0, delayMs: 30_000, error, workerId: null, startedAt: null }])).toEqual([]);
    expect(await attempts.scheduleRetries(ep, 'conn-1', [{ taskId: id, attempt: 1, delayMs: 30_000, error, workerId: null, startedAt: null }])).toEqual([]);
    const moved = await attempts.scheduleRetries(ep, 'conn-1', [{ taskId: id, attempt: 0, delayMs: 30_000, error, workerId: 'w1', startedAt: Date.now() }]);
    expect(moved.map((m) => m.id)).toEqual([id]);
    expect(await tasks.findById(id)).toMatchObject({ status: 'waiting-for-retry', attempt: 1, retries: 1, lease_owner: null, dispatched_at: null });
    expect(await attempts.forTask(id, 10)).toEqual([
      expect.objectContaining({ number: 1, status: 'retried', connection_id: 'conn-1', worker_id: 'w1', error, retry_at: moved[0]!.retry_at }),
    ]);
    // a resend of that failure is seen as such
    expect((await attempts.candidates([{ taskId: id, attempt: 0 }]))[0]!.retried_since).toBe(true);

    // not before the backoff, then once however many sweeps race
    expect(await attempts.promoteDue()).toEqual([]);
    expect((await attempts.nextDue())?.getTime()).toBe(moved[0]!.retry_at!.getTime());
    // the sweep reads this first and moves nothing while the backoff runs
    expect(await attempts.nextRetry()).toEqual({ at: moved[0]!.retry_at, due: false });
    expect(moved[0]!.retry_at!.getTime() - Date.now()).toBeGreaterThan(20_000);
    // the backoff passes (moved forward here rather than waited for)
    await db.prisma.$executeRawUnsafe(`UPDATE tasks SET retry_at = now() - interval '1 millisecond' WHERE id = $1::uuid`, id);
    expect((await attempts.nextRetry())?.due).toBe(true);
    const promoted = await Promise.all([attempts.promoteDue(), attempts.promoteDue(), attempts.promoteDue()]);
    // the queue's columns: a promoted task keeps its place by priority and owner
    expect(promoted.flat()).toEqual([{ id, endpoint_id: ep, owner_id: expect.any(String), priority: 5 }]);
    expect(await tasks.findById(id)).toMatchObject({ status: 'waiting-for-endpoint', attempt: 1 });
    expect(await attempts.nextDue()).toBeNull();
    expect((await leases.grant(ep, [id], 'conn-1', 60_000)).map((r) => r.attempt)).toEqual([1]);
  });

  it('records a lost lease as an attempt; lost leases are counted apart from retries', async () => {
    const id = await submit();
    await leases.grant(ep, [id], 'conn-1', 60_000);
    await attempts.scheduleRetries(ep, 'conn-1', [{ taskId: id, attempt: 0, delayMs: 0, error, workerId: null, startedAt: null }]);
    await attempts.promoteDue();
    await leases.grant(ep, [id], 'conn-1', 60_000);
    // attempt 1 counts one retry and no lost lease: with FX_MAX_ATTEMPTS 2 it may still lose one
    const lost = await leases.requeueReturned(ep, 'conn-1', [id], 2);
    expect(lost.requeued.map((r) => r.id)).toEqual([id]);
    expect((await attempts.forTask(id, 10)).map((a) => [a.number, a.status])).toEqual([
      [1, 'retried'],
      [2, 'lost'],
    ]);
    await leases.grant(ep, [id], 'conn-1', 60_000);
    const exhausted = await leases.requeueReturned(ep, 'conn-1', [id], 2);
    expect(exhausted.exhausted.map((r) => r.error?.code)).toEqual(['MAX_ATTEMPTS_EXCEEDED']);
    expect(exhausted.exhausted[0]!.error?.message).toContain('lost its agent 2 times');
  });

  it('lets a cancel during the backoff win, and purges attempts with their task', async () => {
    const id = await submit();
    await leases.grant(ep, [id], 'conn-1', 60_000);
    await attempts.scheduleRetries(ep, 'conn-1', [{ taskId: id, attempt: 0, delayMs: 0, error, workerId: null, startedAt: null }]);
    expect((await tasks.cancel([id], owner)).map((c) => c.previous)).toEqual(['waiting-for-retry']);
    expect(await attempts.promoteDue()).toEqual([]);
    expect((await tasks.findById(id))!.status).toBe('cancelled');
    await tasks.purgeCompletedBefore(new Date(Date.now() + 1000));
    expect(await attempts.forTask(id, 10)).toEqual([]);
  });
});
