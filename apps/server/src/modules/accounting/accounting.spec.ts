import { jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { AttemptUsage, BlockReport, HeartbeatPayload, TaskResult } from '@fx/protocol';
import { eventually as eventuallyWithin } from '@fx/testing';
import { BACKENDS, rest, startTestServer, type TestServer } from '../../testing/test-server.js';
import { ProtocolPeer } from '../../testing/protocol-peer.js';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';
import { MAX_ACCOUNTED_MS } from './accounting-rows.js';
import { ResultsService } from '../agents/results.service.js';
import { LeaseService, type LeaseHolder } from '../leases/lease.service.js';
import { CopiesRepository } from '../speculation/copies.repository.js';

jest.setTimeout(60_000);

const eventually = <T>(fn: () => Promise<T>) => eventuallyWithin(fn, 15_000, 'condition', { intervalMs: 50 });

const USAGE: AttemptUsage = { wallMs: 1_500, cores: 2, gpus: 1, cpuMs: 1_200, maxRssBytes: 64 * 1024 * 1024, blockId: 'b1-abcdef' };

/**
 * Accounting on the server (issue 17), against a real server and bare endpoint-channel peers: usage is
 * recorded once per attempt with its result, only by the connection the task is leased to, and shown on
 * the task's attempts; heartbeat blocks land in endpoint_blocks under the heartbeat's own endpoint.
 */
describe.each(BACKENDS)('accounting records (%s)', (backend) => {
  let server: TestServer;
  let db: Database;
  let alice: ReturnType<typeof rest>;
  let bob: ReturnType<typeof rest>;
  let aliceId: string;
  let fnId: string;
  let retriedFnId: string;

  beforeAll(async () => {
    // no speculation sweep: the copy test launches its copy itself
    server = await startTestServer(backend, { FX_RATE_LIMIT_PER_SECOND: '0', FX_SPECULATION_INTERVAL_MS: '3600000' });
    db = server.app.get<Database>(DATABASE);
    const admin = rest(server.url, server.adminToken);
    const mk = async (name: string) => {
      const u = await admin('POST', '/v1/users', { name });
      return { id: u.body.id as string, token: (await admin('POST', `/v1/users/${u.body.id}/tokens`, { name: 't' })).body.token as string };
    };
    const a = await mk('alice');
    aliceId = a.id;
    alice = rest(server.url, a.token);
    bob = rest(server.url, (await mk('bob')).token);
    fnId = (await alice('POST', '/v1/functions', { name: 'id', runtime: 'js', source: '(x) => x' })).body.id;
    retriedFnId = (await alice('POST', '/v1/functions', { name: 'flaky', runtime: 'js', source: '(x) => x', retry: { maxAttempts: 2 } })).body.id;
  });
  afterAll(() => server?.stop());

  const endpointOf = async (who: ReturnType<typeof rest>) => {
    const ep = (await who('POST', '/v1/endpoints', { name: `ep-${Math.random().toString(36).slice(2, 8)}` })).body;
    const peer = await ProtocolPeer.connect(server.url, ep.token);
    peer.hello();
    await peer.next('welcome');
    return { peer, endpointId: ep.endpoint.id as string };
  };
  /** An endpoint of alice's with `n` tasks of `functionId` leased to a bare peer. */
  const leased = async (n: number, functionId = fnId) => {
    const ep = await endpointOf(alice);
    const ids = (await alice('POST', '/v1/tasks/batch', { endpointId: ep.endpointId, tasks: Array.from({ length: n }, (_, i) => ({ functionId, args: [i] })) }))
      .body.taskIds as string[];
    ep.peer.send('credits', { credits: n });
    await ep.peer.tasks(n);
    return { ...ep, ids };
  };
  const result = (taskId: string, extra: Partial<TaskResult> = {}): TaskResult => ({
    taskId,
    attempt: 0,
    status: 'success',
    result: 1,
    timings: { startedAt: Date.now() - 1_500, finishedAt: Date.now() },
    usage: USAGE,
    ...extra,
  });
  /** Sends a results frame and waits for its ack. */
  const report = async (peer: ProtocolPeer, results: TaskResult[]) => {
    peer.send('results', { results });
    await peer.next('ack');
  };
  const usageRows = (taskId: string) =>
    db.prisma.$queryRawUnsafe<Array<Record<string, unknown>>>(
      `SELECT attempt, speculative, owner_id, endpoint_id, function_id, status, wall_ms::int, cores, gpus, cpu_ms::int, max_rss_bytes::float8, block_id
       FROM usage_records WHERE task_id = $1::uuid ORDER BY attempt`,
      taskId,
    );

  it('records an attempt once, with its owner, endpoint and function, and shows it on the attempt', async () => {
    const { peer, endpointId, ids } = await leased(1);
    const task = ids[0]!;
    await report(peer, [result(task)]);
    const expected = {
      attempt: 1,
      speculative: false,
      owner_id: aliceId,
      endpoint_id: endpointId,
      function_id: fnId,
      status: 'success',
      wall_ms: 1_500,
      cores: 2,
      gpus: 1,
      cpu_ms: 1_200,
      max_rss_bytes: 64 * 1024 * 1024,
      block_id: 'b1-abcdef',
    };
    expect(await usageRows(task)).toEqual([expected]);
    // resent (as after a reconnect), with other figures: still the one row, as first recorded
    await report(peer, [result(task, { usage: { ...USAGE, wallMs: 9_999 } })]);
    expect(await usageRows(task)).toEqual([expected]);
    const info = (await alice('GET', `/v1/tasks/${task}`)).body;
    expect(info.attempts).toHaveLength(1);
    expect(info.attempts[0]).toMatchObject({ number: 1, speculative: false, usage: USAGE });
    peer.close();
  });

  it('records the usage of a failed attempt that its retry policy runs again, and of the retry', async () => {
    const { peer, ids } = await leased(1, retriedFnId);
    const task = ids[0]!;
    await report(peer, [result(task, { status: 'failed', result: undefined, error: { code: 'TASK_ERROR', name: 'Error', message: 'flaky' } })]);
    peer.send('credits', { credits: 1 });
    const [retry] = await peer.tasks(1);
    expect(retry!.attempt).toBe(1);
    await report(peer, [result(task, { attempt: 1, usage: { ...USAGE, wallMs: 700 } })]);
    expect((await usageRows(task)).map((r) => [r.attempt, r.status, r.wall_ms])).toEqual([
      [1, 'failed', 1_500],
      [2, 'success', 700],
    ]);
    const attempts = (await alice('GET', `/v1/tasks/${task}`)).body.attempts;
    expect(attempts.map((a: { number: number; status: string; usage: AttemptUsage | null }) => [a.number, a.status, a.usage?.wallMs])).toEqual([
      [1, 'retried', 1_500],
      [2, 'success', 700],
    ]);
    peer.close();
  });

  it('estimates a started attempt that lost its agent, and lets the agent’s own measure replace it', async () => {
    const { peer, ids } = await leased(2);
    const [ran, never] = ids as [string, string];
    const startedAt = Date.now() - 400;
    peer.send('started', { tasks: [{ taskId: ran, startedAt }] });
    await eventually(async () => ((await alice('GET', `/v1/tasks/${ran}`)).body.status === 'running' ? true : undefined));
    // the block running them ended: both go back to the queue; only the one that had started held a worker
    peer.send('requeue', { taskIds: [ran, never], reason: 'its block ended' });
    await eventually(async () => ((await alice('GET', `/v1/tasks/${ran}`)).body.attempt === 1 ? true : undefined));
    const [lost] = await usageRows(ran);
    expect(lost).toMatchObject({ attempt: 1, status: 'lost', cores: 1, gpus: 0, cpu_ms: null, max_rss_bytes: null, block_id: null, function_id: fnId });
    expect(lost!.wall_ms as number).toBeGreaterThanOrEqual(0);
    expect(await usageRows(never)).toEqual([]);
    const attempts = (await alice('GET', `/v1/tasks/${ran}`)).body.attempts;
    expect(attempts[0]).toMatchObject({ number: 1, status: 'lost', usage: { cores: 1, gpus: 0, cpuMs: null } });

    // the agent reports that attempt's result after all (accepted while the task waits again): its measure wins
    await report(peer, [result(ran)]);
    expect(await usageRows(ran)).toEqual([expect.objectContaining({ attempt: 1, status: 'success', wall_ms: 1_500, cpu_ms: 1_200, cores: 2 })]);
    peer.close();
  });

  it("records nothing from another tenant's endpoint, nor for an attempt the task is not at", async () => {
    const mine = await leased(2);
    const theirs = await endpointOf(bob);
    // bob's agent names alice's tasks: acknowledged and dropped, no usage recorded
    await report(theirs.peer, [result(mine.ids[0]!)]);
    expect(await usageRows(mine.ids[0]!)).toEqual([]);
    // alice's own connection, for an attempt the task never had
    await report(mine.peer, [result(mine.ids[1]!, { attempt: 3 })]);
    expect(await usageRows(mine.ids[1]!)).toEqual([]);
    // and the real one still records
    await report(mine.peer, [result(mine.ids[0]!)]);
    expect(await usageRows(mine.ids[0]!)).toHaveLength(1);
    expect((await bob('GET', `/v1/tasks/${mine.ids[0]}`)).status).toBe(404);
    mine.peer.close();
    theirs.peer.close();
  });

  it("records a speculative copy's usage as speculative, from the connection the copy is leased to only", async () => {
    const leases = server.app.get(LeaseService);
    const copies = server.app.get(CopiesRepository);
    const results = server.app.get(ResultsService);
    const { peer, endpointId } = await endpointOf(alice);
    const task = (await alice('POST', '/v1/tasks', { endpointId, functionId: fnId, args: [1] })).body.taskId as string;
    const holder: LeaseHolder = { endpointId, id: `conn-${randomUUID()}` };
    const other: LeaseHolder = { endpointId, id: `conn-${randomUUID()}` };
    expect(await leases.grant(holder, [task])).toHaveLength(1);
    await copies.launch([{ taskId: task, attempt: 0, endpointId }]);
    expect((await copies.grant(endpointId, other.id, 60_000, 10)).map((r) => r.id)).toEqual([task]);
    // the original's connection cannot report for the copy
    await results.record(holder, [result(task, { copy: true, result: 'forged' })]);
    expect(await usageRows(task)).toEqual([]);
    await results.record(other, [result(task, { copy: true, usage: { ...USAGE, wallMs: 321 } })]);
    expect((await usageRows(task)).map((r) => [r.attempt, r.speculative, r.wall_ms])).toEqual([[1, true, 321]]);
    const attempts = (await alice('GET', `/v1/tasks/${task}`)).body.attempts;
    expect(attempts.find((a: { speculative: boolean }) => a.speculative)).toMatchObject({ number: 1, status: 'success', usage: { ...USAGE, wallMs: 321 } });
    expect(attempts.find((a: { speculative: boolean }) => !a.speculative)).toMatchObject({ number: 1, usage: null });
    peer.close();
  });

  const heartbeat = (blocks?: BlockReport[]): HeartbeatPayload => ({
    state: 'RUNNING',
    workers: { total: 2, busy: 1, idle: 1 },
    queued: 0,
    running: 1,
    spooled: 0,
    provider: 'slurm',
    ...(blocks ? { blocks } : {}),
  });
  const blockRows = (endpointId: string) =>
    db.prisma.$queryRawUnsafe<Array<Record<string, unknown>>>(
      `SELECT block_id, job_id, state, nodes, (extract(epoch FROM started_at) * 1000)::float8 AS started_at,
              (extract(epoch FROM ended_at) * 1000)::float8 AS ended_at, busy_ms::float8, idle_ms::float8
       FROM endpoint_blocks WHERE endpoint_id = $1::uuid ORDER BY block_id`,
      endpointId,
    );

  it('upserts heartbeat blocks under the heartbeat’s own endpoint; an ended block keeps its final figures', async () => {
    const a = await endpointOf(alice);
    const b = await endpointOf(bob);
    const t0 = Date.UTC(2026, 11, 1);
    const running: BlockReport = { blockId: 'b1-aaaaaa', jobId: '41', state: 'running', nodes: 2, startedAt: t0, busyMs: 3_000, idleMs: 1_000 };
    const pending: BlockReport = { blockId: 'b2-bbbbbb', state: 'pending', nodes: 0, busyMs: 0, idleMs: 0 };
    a.peer.send('heartbeat', heartbeat([running, pending]));
    await eventually(async () => (await blockRows(a.endpointId)).length === 2);
    expect(await blockRows(a.endpointId)).toEqual([
      { block_id: 'b1-aaaaaa', job_id: '41', state: 'running', nodes: 2, started_at: t0, ended_at: null, busy_ms: 3_000, idle_ms: 1_000 },
      { block_id: 'b2-bbbbbb', job_id: null, state: 'pending', nodes: 0, started_at: null, ended_at: null, busy_ms: 0, idle_ms: 0 },
    ]);

    // bob's agent reports blocks of the same ids: they are bob's endpoint's, alice's rows stay as they were
    b.peer.send('heartbeat', heartbeat([{ ...running, state: 'ended', endedAt: t0 + 4_000 }]));
    await eventually(async () => (await blockRows(b.endpointId)).length === 1);
    expect((await blockRows(a.endpointId))[0]).toMatchObject({ state: 'running', ended_at: null });

    const ended: BlockReport = { ...running, state: 'ended', endedAt: t0 + 10_000, busyMs: 6_000, idleMs: 4_000 };
    a.peer.send('heartbeat', heartbeat([ended]));
    await eventually(async () => (await blockRows(a.endpointId))[0]!.state === 'ended');
    // a late or replayed report of the block changes nothing once it ended
    a.peer.send('heartbeat', heartbeat([{ ...running, busyMs: 1, idleMs: 1 }]));
    a.peer.send('heartbeat', heartbeat([{ ...pending, state: 'running', nodes: 1, startedAt: t0, busyMs: 0, idleMs: 5 }]));
    await eventually(async () => (await blockRows(a.endpointId))[1]!.state === 'running');
    const [first] = await blockRows(a.endpointId);
    expect(first).toEqual({
      block_id: 'b1-aaaaaa',
      job_id: '41',
      state: 'ended',
      nodes: 2,
      started_at: t0,
      ended_at: t0 + 10_000,
      busy_ms: 6_000,
      idle_ms: 4_000,
    });
    expect((first!.busy_ms as number) + (first!.idle_ms as number)).toBe((first!.ended_at as number) - (first!.started_at as number));

    // blocks live in their table, not in the endpoint's stored status
    const status = await db.prisma.$queryRawUnsafe<Array<{ status: Record<string, unknown> }>>(
      `SELECT status FROM endpoints WHERE id = $1::uuid`,
      a.endpointId,
    );
    expect(status[0]!.status).toMatchObject({ provider: 'slurm' });
    expect(status[0]!.status).not.toHaveProperty('blocks');
    a.peer.close();
    b.peer.close();
  });

  it('clamps absurd block figures instead of storing them', async () => {
    const a = await endpointOf(alice);
    a.peer.send('heartbeat', heartbeat([{ blockId: 'b9-zzzzzz', state: 'running', nodes: 1, startedAt: 1, endedAt: 2, busyMs: 2 ** 52, idleMs: 0 }]));
    await eventually(async () => (await blockRows(a.endpointId)).length === 1);
    expect((await blockRows(a.endpointId))[0]).toMatchObject({ started_at: null, ended_at: null, busy_ms: MAX_ACCOUNTED_MS, idle_ms: 0 });
    a.peer.close();
  });
});
