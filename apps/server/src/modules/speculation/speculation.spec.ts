import { jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { TaskResult } from '@fx/protocol';
import { ProtocolPeer } from '../../testing/protocol-peer.js';
import { rest, startTestServer, type TestServer } from '../../testing/test-server.js';
import { ResultsService } from '../agents/results.service.js';
import { LeaseService, type LeaseHolder } from '../leases/lease.service.js';
import { CopiesRepository } from './copies.repository.js';
import { CopyPlacementsRepository } from './copy-placements.repository.js';
import { GROUPS_PER_SWEEP, SpeculationService } from './speculation.service.js';
import type { Database } from '../../storage/database.js';
import { DATABASE } from '../../storage/storage.module.js';

/**
 * Speculative copies on real PostgreSQL and Redis, the services called directly with made-up agent
 * connections (no agent connects; the sweep's timer is held off, so only these calls move copies):
 * stragglers of idempotent functions get one copy however many sweeps race, a copy's result completes
 * its task and the original's later result is dropped, the superseded attempt is recorded, and tasks
 * of functions not marked idempotent are never copied.
 */
jest.setTimeout(60_000);

describe('speculation', () => {
  let server: TestServer;
  let admin: ReturnType<typeof rest>;
  let sweep: SpeculationService;
  let copies: CopiesRepository;
  let results: ResultsService;
  let leases: LeaseService;
  let epId: string;

  beforeAll(async () => {
    server = await startTestServer('postgres+redis', { FX_SPECULATION_INTERVAL_MS: '3600000', FX_SWEEP_INTERVAL_MS: '3600000' });
    admin = rest(server.url, server.adminToken);
    sweep = server.app.get(SpeculationService);
    copies = server.app.get(CopiesRepository);
    results = server.app.get(ResultsService);
    leases = server.app.get(LeaseService);
    epId = (await admin('POST', '/v1/endpoints', { name: 'spec-ep' })).body.endpoint.id;
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  const fn = async (name: string, idempotent: boolean) =>
    (await admin('POST', '/v1/functions', { name, runtime: 'js', source: '(x) => x', ...(idempotent ? { idempotent: true } : {}) })).body.id as string;
  const result = (taskId: string, value: unknown, copy = false): TaskResult => ({
    taskId,
    attempt: 0,
    status: 'success',
    result: value,
    timings: { startedAt: Date.now() - 10, finishedAt: Date.now(), workerId: copy ? 'w-fast' : 'w-slow' },
    ...(copy ? { copy: true as const } : {}),
  });

  /**
   * Leased `ms` ago, as if: a start the agent reports is kept between the task's dispatch and now (the
   * agent's clock is not the server's), so a start a minute ago needs a dispatch before it.
   */
  const dispatchedAgo = (ids: string[], ms: number) =>
    server.app
      .get<Database>(DATABASE)
      .prisma.$executeRawUnsafe(`UPDATE tasks SET dispatched_at = now() - $2::int * interval '1 millisecond' WHERE id = ANY($1::uuid[])`, ids, ms);

  /** A batch of 6 with speculation: 5 finish at once (the samples), the 6th runs on, as if for a minute. */
  const straggling = async (functionId: string, holder: LeaseHolder) => {
    const r = await admin('POST', '/v1/tasks/batch', {
      endpointId: epId,
      speculation: { afterFactor: 2, minSamples: 5 },
      tasks: Array.from({ length: 6 }, (_, i) => ({ functionId, args: [i] })),
    });
    expect(r.status).toBe(201);
    const ids: string[] = r.body.taskIds;
    expect(await leases.grant(holder, ids)).toHaveLength(6);
    await dispatchedAgo(ids, 120_000);
    await results.started(
      holder,
      ids.map((taskId, i) => ({ taskId, startedAt: Date.now() - (i === 5 ? 60_000 : 100) })),
    );
    await results.record(
      holder,
      ids.slice(0, 5).map((id, i) => result(id, i)),
    );
    return ids;
  };
  const task = async (id: string) => (await admin('GET', `/v1/tasks/${id}`)).body;

  it('an idle sweep (no copy, no group asking for speculation) reads once and stops there', async () => {
    const endStale = jest.spyOn(copies, 'endStale');
    const groups = jest.spyOn(copies, 'speculatingGroups');
    try {
      expect(await copies.anyActive()).toBe(false);
      expect(await sweep.sweep()).toBe(0);
      expect(endStale).not.toHaveBeenCalled();
      expect(groups).not.toHaveBeenCalled();
    } finally {
      endStale.mockRestore();
      groups.mockRestore();
    }
  });

  it('launches one copy per straggler however many sweeps race; the copy’s result wins and the original’s later one is dropped', async () => {
    const holder: LeaseHolder = { endpointId: epId, id: `conn-${randomUUID()}` };
    const ids = await straggling(await fn('idem', true), holder);
    const straggler = ids[5]!;
    const launched = await Promise.all([sweep.sweep(), sweep.sweep(), copies.launch([{ taskId: straggler, attempt: 0, endpointId: epId }])]);
    expect(launched[0] + launched[1] + launched[2].length).toBe(1);
    // a second look launches nothing more
    expect(await sweep.sweep()).toBe(0);
    expect((await task(straggler)).attempts).toEqual([
      expect.objectContaining({ number: 1, speculative: false, status: 'running' }),
      expect.objectContaining({ number: 1, speculative: true, status: 'waiting-for-endpoint' }),
    ]);

    // another connection of the endpoint takes the copy; it reports only on what it holds
    const other: LeaseHolder = { endpointId: epId, id: `conn-${randomUUID()}` };
    const sent = await copies.grant(epId, other.id, 60_000, 10);
    expect(sent.map((r) => r.id)).toEqual([straggler]);
    await results.record(holder, [result(straggler, 'forged copy', true)]);
    expect((await task(straggler)).status).toBe('running');
    await results.record(other, [result(straggler, 'from the copy', true)]);
    const won = await task(straggler);
    expect(won).toMatchObject({ status: 'success', result: 'from the copy' });
    // the original's result, arriving later, is acknowledged and dropped
    await results.record(holder, [result(straggler, 'from the original')]);
    expect((await task(straggler)).result).toBe('from the copy');
    expect(won.attempts).toEqual([
      expect.objectContaining({ number: 1, speculative: false, status: 'superseded', connectionId: holder.id, endedAt: expect.any(String) }),
      expect.objectContaining({ number: 1, speculative: true, status: 'success', workerId: 'w-fast', connectionId: other.id }),
    ]);
    // nothing is left for the sweep to end
    expect(await copies.endStale()).toEqual([]);
  });

  it("records a won copy's attempt with the endpoint and worker that ran it, not the task's own", async () => {
    const holder: LeaseHolder = { endpointId: epId, id: `conn-${randomUUID()}` };
    const straggler = (await straggling(await fn('idem-elsewhere', true), holder))[5]!;
    const elsewhere = (await admin('POST', '/v1/endpoints', { name: 'spec-elsewhere' })).body.endpoint.id as string;
    expect(await copies.launch([{ taskId: straggler, attempt: 0, endpointId: elsewhere }])).toHaveLength(1);
    const other: LeaseHolder = { endpointId: elsewhere, id: `conn-${randomUUID()}` };
    expect((await copies.grant(elsewhere, other.id, 60_000, 10)).map((r) => r.id)).toEqual([straggler]);
    await results.record(other, [result(straggler, 'from the copy', true)]);
    const won = await task(straggler);
    expect(won).toMatchObject({ status: 'success', endpointId: epId });
    expect(won.attempts).toEqual([
      expect.objectContaining({ number: 1, speculative: false, status: 'superseded', endpointId: epId, connectionId: holder.id }),
      expect.objectContaining({ number: 1, speculative: true, status: 'success', endpointId: elsewhere, workerId: 'w-fast', connectionId: other.id }),
    ]);
  });

  it('cancels a copy whose original finished first, and records it', async () => {
    const holder: LeaseHolder = { endpointId: epId, id: `conn-${randomUUID()}` };
    const ids = await straggling(await fn('idem-2', true), holder);
    const straggler = ids[5]!;
    expect(await sweep.sweep()).toBe(1);
    const other = `conn-${randomUUID()}`;
    expect(await copies.grant(epId, other, 60_000, 10)).toHaveLength(1);
    await results.record(holder, [result(straggler, 'from the original')]);
    const ended = await copies.endStale();
    expect(ended).toEqual([expect.objectContaining({ task_id: straggler, connection_id: other, status: 'cancelled' })]);
    const t = await task(straggler);
    expect(t).toMatchObject({ status: 'success', result: 'from the original' });
    expect(t.attempts).toEqual([
      expect.objectContaining({ number: 1, speculative: false, status: 'success' }),
      expect.objectContaining({ number: 1, speculative: true, status: 'cancelled', connectionId: other }),
    ]);
  });

  it('takes a copy its agent refused before it ran for one to place again, and places it no more once its task ended', async () => {
    const placements = server.app.get(CopyPlacementsRepository);
    const holder: LeaseHolder = { endpointId: epId, id: `conn-${randomUUID()}` };
    const straggler = (await straggling(await fn('idem-refused', true), holder))[5]!;
    expect(await sweep.sweep()).toBe(1);
    const other: LeaseHolder = { endpointId: epId, id: `conn-${randomUUID()}` };
    expect(await copies.grant(epId, other.id, 60_000, 10)).toHaveLength(1);
    const refused = { code: 'CONTENT_HASH_MISMATCH' as const, name: 'ContentHashMismatch', message: 'refusing to run it' };
    await results.record(other, [{ taskId: straggler, attempt: 0, status: 'failed', error: refused, timings: { startedAt: Date.now() }, copy: true }]);
    const [c] = (await placements.refused(1_000)).filter((r) => r.id === straggler);
    expect(c).toMatchObject({ placement: 0, refused_by: [epId] });
    expect((await task(straggler)).attempts).toEqual([
      expect.objectContaining({ speculative: false, status: 'running' }),
      expect.objectContaining({ speculative: true, status: 'cancelled', startedAt: null, error: expect.objectContaining({ code: 'CONTENT_HASH_MISMATCH' }) }),
    ]);
    // its original finishes first: a member found for it then places it no more, and the sweep stops reading it
    await results.record(holder, [result(straggler, 'from the original')]);
    expect(await placements.replace(c!, randomUUID())).toBe(false);
    expect((await placements.refused(1_000)).map((r) => r.id)).not.toContain(straggler);
  });

  it('keeps a start an agent reports between the dispatch and now: no clock of its makes every task a straggler', async () => {
    const holder: LeaseHolder = { endpointId: epId, id: `conn-${randomUUID()}` };
    const functionId = await fn('idem-clock', true);
    const r = await admin('POST', '/v1/tasks/batch', {
      endpointId: epId,
      speculation: { afterFactor: 2, minSamples: 5 },
      tasks: Array.from({ length: 7 }, (_, i) => ({ functionId, args: [i] })),
    });
    const ids: string[] = r.body.taskIds;
    expect(await leases.grant(holder, ids)).toHaveLength(7);
    const before = Date.now();
    // five samples "started" in 2199 (a negative median made every running task a straggler), one in 2000
    // (a lost attempt's usage was charged from then: 26 years), one now
    const far = Date.UTC(2199, 0, 1);
    await results.started(holder, [
      ...ids.slice(0, 5).map((taskId) => ({ taskId, startedAt: far })),
      { taskId: ids[5]!, startedAt: Date.UTC(2000, 0, 2) },
      { taskId: ids[6]!, startedAt: Date.now() },
    ]);
    await results.record(
      holder,
      ids.slice(0, 5).map((id, i) => ({ ...result(id, i), timings: { startedAt: far, finishedAt: far + 1 } })),
    );
    for (const id of ids.slice(0, 6)) {
      const { timeline } = await task(id);
      const started = Date.parse(timeline.runningAt);
      expect(started).toBeGreaterThanOrEqual(Date.parse(timeline.dispatchedAt) - 1);
      expect(started).toBeGreaterThanOrEqual(before - 60_000);
      expect(started).toBeLessThanOrEqual(Date.now());
    }
    // the samples' runtimes are what the server saw (a few ms), not minus 173 years
    const samples = await Promise.all(ids.slice(0, 5).map(task));
    for (const { timeline } of samples) expect(Date.parse(timeline.completedAt) - Date.parse(timeline.runningAt)).toBeGreaterThanOrEqual(0);
    await results.record(holder, [result(ids[5]!, 5), result(ids[6]!, 6)]);
  });

  it('never copies a task of a function not marked idempotent', async () => {
    const holder: LeaseHolder = { endpointId: epId, id: `conn-${randomUUID()}` };
    const ids = await straggling(await fn('not-idem', false), holder);
    expect(await sweep.sweep()).toBe(0);
    expect((await task(ids[5]!)).attempts).toEqual([expect.objectContaining({ number: 1, speculative: false, status: 'running' })]);
  });

  it('puts the copy of a task sent to an endpoint group on another online member', async () => {
    const members = await Promise.all(['spec-m1', 'spec-m2'].map(async (name) => (await admin('POST', '/v1/endpoints', { name })).body));
    const peers = await Promise.all(members.map((m: { token: string }) => ProtocolPeer.connect(server.url, m.token)));
    try {
      for (const p of peers) {
        p.hello();
        await p.next('welcome');
      }
      const ids = members.map((m: { endpoint: { id: string } }) => m.endpoint.id);
      expect((await admin('POST', '/v1/endpoint-groups', { name: 'spec-pool', members: ids })).status).toBe(201);
      const functionId = await fn('idem-grouped', true);
      const r = await admin('POST', '/v1/tasks/batch', {
        endpointId: 'spec-pool',
        speculation: { afterFactor: 2, minSamples: 5 },
        tasks: Array.from({ length: 6 }, (_, i) => ({ functionId, args: [i] })),
      });
      expect(r.status).toBe(201);
      const taskIds: string[] = r.body.taskIds;
      const placed = new Map<string, string>();
      for (const id of taskIds) placed.set(id, (await task(id)).endpointId);
      const holders = new Map(ids.map((endpointId: string) => [endpointId, { endpointId, id: `conn-${randomUUID()}` } as LeaseHolder]));
      for (const [endpointId, holder] of holders) {
        const mine = taskIds.filter((id) => placed.get(id) === endpointId);
        if (mine.length === 0) continue;
        expect(await leases.grant(holder, mine)).toHaveLength(mine.length);
        await dispatchedAgo(mine, 120_000);
        await results.started(
          holder,
          mine.map((taskId) => ({ taskId, startedAt: Date.now() - (taskId === taskIds[5] ? 60_000 : 100) })),
        );
        const samples = mine.filter((id) => id !== taskIds[5]);
        if (samples.length > 0)
          await results.record(
            holder,
            samples.map((id) => result(id, id)),
          );
      }
      expect(await sweep.sweep()).toBe(1);
      const slowOn = placed.get(taskIds[5]!)!;
      const otherMember = ids.find((id: string) => id !== slowOn)!;
      // the copy goes to the other member's agent (copies need no credits), not to the one the original runs on
      const copy = (await peers[ids.indexOf(otherMember)]!.tasks(1)).find((t) => t.taskId === taskIds[5]);
      expect(copy).toMatchObject({ taskId: taskIds[5], copy: true });
      expect((await task(taskIds[5]!)).attempts).toEqual([
        expect.objectContaining({ speculative: false, endpointId: slowOn }),
        expect.objectContaining({ speculative: true, endpointId: otherMember }),
      ]);
      expect(peers[ids.indexOf(slowOn)]!.frames.filter((f) => f.type === 'tasks')).toEqual([]);
    } finally {
      for (const p of peers) p.ws.close();
    }
  });

  it('looks at a page of the speculating groups per sweep, in a round, and for stragglers only in those with a task running', async () => {
    // one user's many groups waiting on an endpoint that is away (no task of theirs runs)
    const db = server.app.get<Database>(DATABASE);
    const owner = randomUUID();
    const waiting = new Set(
      (
        await db.prisma.$queryRawUnsafe<Array<{ id: string }>>(
          `INSERT INTO task_groups (id, owner_id, speculation, speculating_since)
           SELECT gen_random_uuid(), $1::uuid, '{"afterFactor":2,"minSamples":5}'::jsonb, now() FROM generate_series(1, $2::int)
           RETURNING id::text`,
          owner,
          GROUPS_PER_SWEEP + 3,
        )
      ).map((r) => r.id),
    );
    const pages = jest.spyOn(copies, 'speculatingGroups');
    const looked = jest.spyOn(copies, 'stragglers');
    try {
      for (let i = 0; i < 3; i++) await sweep.sweep();
      const calls = pages.mock.calls;
      expect(calls.map(([, limit]) => limit)).toEqual([GROUPS_PER_SWEEP, GROUPS_PER_SWEEP, GROUPS_PER_SWEEP]);
      // the second page goes on after the first; the third starts the round again
      expect([calls[0]![0], typeof calls[1]![0], calls[2]![0]]).toEqual([null, 'string', null]);
      expect(looked.mock.calls.filter(([groupId]) => waiting.has(groupId))).toEqual([]);
    } finally {
      pages.mockRestore();
      looked.mockRestore();
      await db.prisma.$executeRawUnsafe(`DELETE FROM task_groups WHERE id = ANY($1::uuid[])`, [...waiting]);
    }
  });
});
