import { jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { TaskOutcome } from '@fx/protocol';
import { rest, startTestServer, type TestServer } from '../../testing/test-server.js';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';
import { EventsService } from '../events/events.service.js';
import { TasksRepository } from '../tasks/tasks.repository.js';
import { CopiesRepository } from '../speculation/copies.repository.js';
import { ResultsService } from '../agents/results.service.js';
import { LeaseService, type LeaseHolder } from './lease.service.js';

/**
 * The lease model on real PostgreSQL and Redis (a test server of its own, its recovery sweep held
 * off so that only these calls move leases): a lease is granted once, a lost one sends its task back
 * to the queue with attempt + 1, and past FX_MAX_ATTEMPTS the task fails MAX_ATTEMPTS_EXCEEDED with
 * its outcome published. No agent connects: the service is called directly, with made-up holders.
 */
jest.setTimeout(30_000);

const LEASE_MS = 3_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Events reach this replica's handlers on a microtask after their publish. */
const settled = () => sleep(20);

describe('LeaseService', () => {
  let server: TestServer;
  let admin: ReturnType<typeof rest>;
  let leases: LeaseService;
  let tasks: TasksRepository;
  let db: Database;
  let fnId: string;
  let epId: string;
  const woken: string[][] = [];
  const published: Array<TaskOutcome & { ownerId: string }> = [];

  beforeAll(async () => {
    server = await startTestServer('postgres+redis', {
      FX_MAX_ATTEMPTS: '2',
      FX_HEARTBEAT_INTERVAL_MS: '500',
      FX_HEARTBEAT_TIMEOUT_MS: String(LEASE_MS),
      FX_SWEEP_INTERVAL_MS: '3600000',
    });
    admin = rest(server.url, server.adminToken);
    leases = server.app.get(LeaseService);
    tasks = server.app.get(TasksRepository);
    db = server.app.get(DATABASE);
    const events = server.app.get(EventsService);
    events.on('wake', ({ endpointIds }) => woken.push(endpointIds));
    events.on('results', ({ results }) => published.push(...results));
    fnId = (await admin('POST', '/v1/functions', { name: 'inc', runtime: 'js', source: '(x) => x + 1' })).body.id;
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  beforeEach(async () => {
    epId = (await admin('POST', '/v1/endpoints', { name: `ep-${randomUUID().slice(0, 8)}` })).body.endpoint.id;
    woken.length = 0;
    published.length = 0;
  });

  const submit = async (n: number): Promise<string[]> => {
    const r = await admin('POST', '/v1/tasks/batch', { endpointId: epId, tasks: Array.from({ length: n }, (_, i) => ({ functionId: fnId, args: [i] })) });
    expect(r.status).toBe(201);
    // the submission woke the queue: only what the leases do afterwards counts
    await settled();
    woken.length = 0;
    return r.body.taskIds;
  };
  const task = async (id: string) => (await admin('GET', `/v1/tasks/${id}`)).body as { status: string; attempt: number; error: { code: string } | null };
  const holder = (): LeaseHolder => ({ endpointId: epId, id: `conn-${randomUUID()}` });
  /** A task leased to a holder, its speculative copy leased to another endpoint's connection. */
  const copiedElsewhere = async () => {
    const other = (await admin('POST', '/v1/endpoints', { name: `ep-${randomUUID().slice(0, 8)}` })).body.endpoint.id as string;
    const [id] = await submit(1);
    const original = holder();
    await leases.grant(original, [id]);
    const copies = server.app.get(CopiesRepository);
    await copies.launch([{ taskId: id, attempt: 0, endpointId: other }]);
    const copyHolder: LeaseHolder = { endpointId: other, id: `conn-${randomUUID()}` };
    expect((await copies.grant(other, copyHolder.id, LEASE_MS, 10)).map((r) => r.id)).toEqual([id]);
    return { id: id!, original, copyHolder };
  };

  it('grants a lease on waiting tasks of the holder’s endpoint only, once', async () => {
    const ids = await submit(2);
    const a = holder();
    expect(await leases.grant({ endpointId: randomUUID(), id: a.id }, ids)).toEqual([]);
    const rows = await leases.grant(a, ids);
    expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(rows.every((r) => r.attempt === 0 && r.function_id === fnId)).toBe(true);
    expect(await leases.grant(holder(), ids)).toEqual([]);
    expect((await task(ids[0]!)).status).toBe('dispatched');
  });

  it('requeues a handed-back task with attempt + 1 and wakes its queue; another holder’s hand-back changes nothing', async () => {
    const [id] = await submit(1);
    const a = holder();
    await leases.grant(a, [id!]);
    await leases.handBack(holder(), [id!], 'not mine');
    expect(await task(id!)).toMatchObject({ status: 'dispatched', attempt: 0 });
    await leases.handBack(a, [id!], 'block ended');
    await settled();
    expect(await task(id!)).toMatchObject({ status: 'waiting-for-endpoint', attempt: 1 });
    expect(woken).toEqual([[epId]]);
    expect(published).toEqual([]);
    // back on the queue: a new lease may be granted, at the next attempt
    expect((await leases.grant(holder(), [id!])).map((r) => r.attempt)).toEqual([1]);
  });

  it('fails a task that lost its lease FX_MAX_ATTEMPTS times with MAX_ATTEMPTS_EXCEEDED, and publishes its outcome', async () => {
    const [id] = await submit(1);
    for (let attempt = 0; attempt < 2; attempt++) {
      const h = holder();
      expect(await leases.grant(h, [id!])).toHaveLength(1);
      await leases.handBack(h, [id!], 'block ended');
    }
    await settled();
    const t = await task(id!);
    expect(t).toMatchObject({ status: 'failed', attempt: 2, error: { code: 'MAX_ATTEMPTS_EXCEEDED' } });
    expect(published).toEqual([expect.objectContaining({ taskId: id, status: 'failed', error: expect.objectContaining({ code: 'MAX_ATTEMPTS_EXCEEDED' }) })]);
    expect(await leases.grant(holder(), [id!])).toEqual([]);
  });

  it('on reconnect keeps what the agent still holds, loses the rest, and says what to forget', async () => {
    const ids = await submit(3);
    const before = holder();
    await leases.grant(before, ids);
    const after: LeaseHolder = { endpointId: epId, id: `conn-${randomUUID()}` };
    const unknown = randomUUID();
    const { forget, ...lost } = await leases.reconcile(after, [ids[0]!, unknown]);
    expect(forget).toEqual([unknown]);
    expect(lost.requeued.map((r) => r.id).sort()).toEqual(ids.slice(1).sort());
    expect(lost.exhausted).toEqual([]);
    // nothing is enqueued until the caller says so (after its welcome)
    await settled();
    expect(woken).toEqual([]);
    await leases.requeue(lost);
    await settled();
    expect(woken).toEqual([[epId]]);
    // the kept task is leased to the new connection now, not to the old one
    await leases.handBack(before, [ids[0]!], 'stale');
    expect(await task(ids[0]!)).toMatchObject({ status: 'dispatched', attempt: 0 });
    await leases.handBack(after, [ids[0]!], 'block ended');
    expect(await task(ids[0]!)).toMatchObject({ status: 'waiting-for-endpoint', attempt: 1 });
  });

  it('takes a late result or usage for a task that lost its lease only from the endpoint it lost it on, and tells an agent only of its own finished tasks', async () => {
    const [stays, moved] = await submit(2);
    const a = holder();
    await leases.grant(a, [stays!, moved!]);
    await tasks.markRunning(
      epId,
      a.id,
      [stays!, moved!].map((taskId) => ({ taskId, startedAt: Date.now() })),
    );
    await leases.handBack(a, [stays!, moved!], 'block ended');
    // an endpoint group moves one waiting task to another member (EndpointRoutingRepository.move)
    const other = (await admin('POST', '/v1/endpoints', { name: `ep-${randomUUID().slice(0, 8)}` })).body.endpoint.id as string;
    await db.prisma.$executeRawUnsafe(`UPDATE tasks SET endpoint_id = $1::uuid WHERE id = $2::uuid`, other, moved);
    const result = (taskId: string) => ({ taskId, attempt: 0, status: 'success' as const, result: 'late', timings: {} });
    const usage = (taskId: string) => ({
      task_id: taskId,
      attempt: 0,
      copy: false,
      status: 'success' as const,
      ended_at: null,
      wall_ms: 1e12,
      cores: 100_000,
      gpus: 1_024,
      cpu_ms: null,
      max_rss_bytes: null,
      block_id: null,
    });
    // the member it moved to never had it: neither its result nor its usage is taken
    const forged = await tasks.recordResults(other, `conn-${randomUUID()}`, [result(moved!)], { usage: [usage(moved!)] });
    expect(forged.outcomes).toEqual([]);
    expect(await task(moved!)).toMatchObject({ status: 'waiting-for-endpoint', attempt: 1 });
    const lostUsage = await db.prisma.$queryRawUnsafe<Array<{ status: string; endpoint_id: string; cores: number }>>(
      `SELECT status, endpoint_id::text, cores FROM usage_records WHERE task_id = $1::uuid`,
      moved,
    );
    expect(lostUsage).toEqual([{ status: 'lost', endpoint_id: epId, cores: 1 }]);
    // the endpoint it lost its lease on: its agent's late result is genuine work, taken from a new connection
    const late = await tasks.recordResults(epId, `conn-${randomUUID()}`, [result(stays!)]);
    expect(late.outcomes.map((o) => [o.id, o.status])).toEqual([[stays, 'success']]);
    // an agent of another endpoint is told to forget a finished task it names, as for any unknown id
    expect((await leases.reconcile({ endpointId: other, id: `conn-${randomUUID()}` }, [stays!])).forget).toEqual([stays]);
    expect((await leases.reconcile({ endpointId: epId, id: `conn-${randomUUID()}` }, [stays!])).forget).toEqual([]);
  });

  it("keeps a speculative copy with the agent that names it as it reconnects, as a copy, the original's lease where it was", async () => {
    const copies = server.app.get(CopiesRepository);
    const other = (await admin('POST', '/v1/endpoints', { name: `ep-${randomUUID().slice(0, 8)}` })).body.endpoint.id as string;
    const [elsewhere, beside] = await submit(2);
    const original = holder();
    await leases.grant(original, [elsewhere!, beside!]);
    // one copy on another endpoint, one on the task's own (its agent runs both there)
    await copies.launch([
      { taskId: elsewhere!, attempt: 0, endpointId: other },
      { taskId: beside!, attempt: 0, endpointId: epId },
    ]);
    expect((await copies.grant(other, 'conn-copy', LEASE_MS, 10)).map((r) => r.id)).toEqual([elsewhere]);
    expect((await copies.grant(epId, original.id, LEASE_MS, 10)).map((r) => r.id)).toEqual([beside]);
    const rows = async () =>
      db.prisma.$queryRawUnsafe<Array<{ id: string; lease_owner: string; copy_status: string; copy_connection: string }>>(
        `SELECT t.id::text, t.lease_owner, c.status AS copy_status, c.connection_id AS copy_connection
         FROM tasks t JOIN task_copies c ON c.task_id = t.id WHERE t.id IN ($1::uuid, $2::uuid) ORDER BY t.id = $1::uuid DESC`,
        elsewhere,
        beside,
      );
    // the copy's agent reconnects naming the task: its copy moves with it, the task's lease stays with the original's holder
    const copyBack = `conn-${randomUUID()}`;
    const reclaimed = await leases.reconcile({ endpointId: other, id: copyBack }, [elsewhere!]);
    expect([reclaimed.forget, reclaimed.requeued.map((r) => r.id)]).toEqual([[], []]);
    expect((await rows())[0]).toEqual({ id: elsewhere, lease_owner: original.id, copy_status: 'dispatched', copy_connection: copyBack });
    // the original's agent reconnects naming both: its originals and the copy it runs beside one move to it; the other copy stays
    const back = holder();
    expect((await leases.reconcile(back, [elsewhere!, beside!])).forget).toEqual([]);
    expect(await rows()).toEqual([
      { id: elsewhere, lease_owner: back.id, copy_status: 'dispatched', copy_connection: copyBack },
      { id: beside, lease_owner: back.id, copy_status: 'dispatched', copy_connection: back.id },
    ]);
    // the copy's agent comes back without it: the copy ends lost, and the original runs on
    await leases.reconcile({ endpointId: other, id: `conn-${randomUUID()}` }, []);
    expect((await rows())[0]).toMatchObject({ lease_owner: back.id, copy_status: 'lost' });
    expect(await task(elsewhere!)).toMatchObject({ status: 'dispatched', attempt: 0 });
  });

  it('gives up a handed-back task whose speculative copy runs elsewhere: no lease left with its connection, no third run, the copy completes it', async () => {
    const { id, original, copyHolder } = await copiedElsewhere();
    const row = async () =>
      (
        await db.prisma.$queryRawUnsafe<Array<{ status: string; lease_owner: string | null; attempt: number }>>(
          `SELECT status, lease_owner, attempt FROM tasks WHERE id = $1::uuid`,
          id,
        )
      )[0];
    await leases.handBack(original, [id], 'the block running them ended');
    await settled();
    // not requeued beside its running copy, and its connection holds nothing of it any more
    expect(await row()).toEqual({ status: 'dispatched', lease_owner: null, attempt: 0 });
    expect(woken).toEqual([]);
    const attempts = (await admin('GET', `/v1/tasks/${id}`)).body.attempts as Array<{ status: string; speculative: boolean; connectionId: string }>;
    expect(attempts.find((a) => !a.speculative)).toMatchObject({ status: 'lost', connectionId: original.id });
    // neither the connection's heartbeats nor the expiry sweep bring it back while the copy runs
    await leases.extend(original.id);
    expect((await leases.requeueExpired()).requeued).toEqual([]);
    expect(await row()).toEqual({ status: 'dispatched', lease_owner: null, attempt: 0 });
    await server.app
      .get(ResultsService)
      .record(copyHolder, [
        { taskId: id, attempt: 0, status: 'success', result: 'from the copy', timings: { startedAt: Date.now() - 5, finishedAt: Date.now() }, copy: true },
      ]);
    expect(await task(id)).toMatchObject({ status: 'success', attempt: 0 });
  });

  it('requeues a handed-back task given up beside its speculative copy as soon as that copy fails', async () => {
    const { id, original, copyHolder } = await copiedElsewhere();
    await leases.handBack(original, [id], 'the block running them ended');
    const error = { code: 'TASK_ERROR' as const, name: 'Error', message: 'the copy failed' };
    await server.app.get(ResultsService).record(copyHolder, [{ taskId: id, attempt: 0, status: 'failed', error, timings: {}, copy: true }]);
    await settled();
    expect(await task(id)).toMatchObject({ status: 'waiting-for-endpoint', attempt: 1 });
    expect(woken).toEqual([[epId]]);
  });

  /** The task's row and its copy's, as the leases see them. */
  const rowsOf = async (id: string) =>
    (
      await db.prisma.$queryRawUnsafe<
        Array<{ status: string; lease_owner: string | null; attempt: number; copy_status: string; copy_connection: string | null }>
      >(
        `SELECT t.status, t.lease_owner, t.attempt, c.status AS copy_status, c.connection_id AS copy_connection
         FROM tasks t JOIN task_copies c ON c.task_id = t.id WHERE t.id = $1::uuid`,
        id,
      )
    )[0];
  const copyFailed = (id: string) => ({
    taskId: id,
    attempt: 0,
    status: 'failed' as const,
    error: { code: 'TASK_ERROR' as const, name: 'Error', message: 'the copy failed' },
    timings: {},
    copy: true as const,
  });

  it("ends a speculative copy its agent hands back, the original's lease where it was; a task given up beside it is requeued then", async () => {
    const { id, original, copyHolder } = await copiedElsewhere();
    await leases.handBack(copyHolder, [id], 'the block running them ended');
    await settled();
    expect(await rowsOf(id)).toEqual({ status: 'dispatched', lease_owner: original.id, attempt: 0, copy_status: 'lost', copy_connection: copyHolder.id });
    const attempts = (await admin('GET', `/v1/tasks/${id}`)).body.attempts as Array<{ status: string; speculative: boolean; connectionId: string }>;
    expect(attempts.find((a) => a.speculative)).toMatchObject({ status: 'lost', connectionId: copyHolder.id });
    expect(woken).toEqual([]);
    // nothing keeps it alive: the copy's connection's heartbeats extend no copy lease of it
    await leases.extend(copyHolder.id);
    expect((await rowsOf(id))?.copy_status).toBe('lost');

    // the original given up beside its copy first: the copy handed back leaves nothing running it, so it is requeued at once
    const given = await copiedElsewhere();
    await leases.handBack(given.original, [given.id], 'the block running them ended');
    expect(await rowsOf(given.id)).toMatchObject({ status: 'dispatched', lease_owner: null, copy_status: 'dispatched' });
    await leases.handBack(given.copyHolder, [given.id], 'the block running them ended');
    await settled();
    expect(await task(given.id)).toMatchObject({ status: 'waiting-for-endpoint', attempt: 1 });
    expect(woken).toEqual([[epId]]);
  });

  it('gives up a handed-back task whose speculative copy runs beside it on the same connection, and requeues it once the copy fails', async () => {
    const copies = server.app.get(CopiesRepository);
    const [id] = await submit(1);
    const original = holder();
    await leases.grant(original, [id!]);
    // no other member to place it on: the copy runs on the task's own endpoint, with the agent that runs the original
    await copies.launch([{ taskId: id!, attempt: 0, endpointId: epId }]);
    expect((await copies.grant(epId, original.id, LEASE_MS, 10)).map((r) => r.id)).toEqual([id]);
    // a requeue frame names originals (the agent reports a copy that lost its worker as a failed result)
    await leases.handBack(original, [id!], 'the block running them ended');
    await settled();
    expect(await rowsOf(id!)).toEqual({ status: 'dispatched', lease_owner: null, attempt: 0, copy_status: 'dispatched', copy_connection: original.id });
    expect(woken).toEqual([]);
    // its connection's heartbeats do not bring the original back, nor does a reconnect naming the id (its copy's)
    await leases.extend(original.id);
    const back = holder();
    expect((await leases.reconcile(back, [id!])).forget).toEqual([]);
    expect(await rowsOf(id!)).toEqual({ status: 'dispatched', lease_owner: null, attempt: 0, copy_status: 'dispatched', copy_connection: back.id });
    // the copy fails: nothing runs the task any more, so it is requeued now
    await server.app.get(ResultsService).record(back, [copyFailed(id!)]);
    await settled();
    expect(await task(id!)).toMatchObject({ status: 'waiting-for-endpoint', attempt: 1 });
    expect(woken).toEqual([[epId]]);
  });

  it('requeues a lease once it is past its expiry, and not before; an extended one lives on', async () => {
    const [lapsing, extended] = await submit(2);
    const a = holder();
    const b = holder();
    await leases.grant(a, [lapsing!]);
    await leases.grant(b, [extended!]);
    const mine = (lost: Awaited<ReturnType<LeaseService['requeueExpired']>>) =>
      lost.requeued.map((r) => r.id).filter((id) => id === lapsing || id === extended);
    expect(mine(await leases.requeueExpired())).toEqual([]);
    await sleep(LEASE_MS / 2);
    await leases.extend([b.id]);
    // a quarter of a lease past the first expiry, a quarter before the extended one
    await sleep((LEASE_MS * 3) / 4);
    expect(mine(await leases.requeueExpired())).toEqual([lapsing]);
    await settled();
    expect(await task(lapsing!)).toMatchObject({ status: 'waiting-for-endpoint', attempt: 1 });
    expect(await task(extended!)).toMatchObject({ status: 'dispatched', attempt: 0 });
    // leases other tests left behind may lapse in the same sweep: this endpoint is among those woken
    expect(woken.flat()).toContain(epId);
  });

  it('at a server start, renews held leases that ran out meanwhile, so their agent can still claim them', async () => {
    const [held] = await submit(1);
    const gone = holder();
    await leases.grant(gone, [held!]);
    // the lease runs out while (as it were) no server runs
    await sleep(LEASE_MS + 250);
    await leases.renewAfterStart();
    const mine = (lost: Awaited<ReturnType<LeaseService['requeueExpired']>>) => lost.requeued.map((r) => r.id).filter((id) => id === held);
    expect(mine(await leases.requeueExpired())).toEqual([]);
    expect(await task(held!)).toMatchObject({ status: 'dispatched', attempt: 0 });
    // the agent's hello (a new connection) claims it: kept, nothing to forget
    const back = holder();
    const reconciled = await leases.reconcile(back, [held!]);
    expect(reconciled.forget).toEqual([]);
    expect(reconciled.requeued.map((r) => r.id)).not.toContain(held);
    expect(await task(held!)).toMatchObject({ status: 'dispatched', attempt: 0 });
  });
});
