import { jest } from '@jest/globals';
import { startTestServer, type TestServer } from '../../apps/server/src/testing/test-server.js';
import { MAX_MEMBER_UPLOADS_PER_TASK } from '../../apps/server/src/modules/objects/uploads.service.js';
import { ProtocolPeer } from '../../apps/server/src/testing/protocol-peer.js';
import { eventually, sleep } from '@fx/testing';
import { ENDPOINT_PROTOCOL_VERSION } from '@fx/protocol';
import { FRAME_POLL, RawSocket, mkUser, type TestUser } from './channels.fixture.js';
import { objectsClient } from '../../apps/server/src/testing/objects-client.js';
import { firingTaskId } from '../../apps/server/src/modules/triggers/trigger-rules.js';
import { CopiesRepository } from '../../apps/server/src/modules/speculation/copies.repository.js';
import { CopyPlacementsRepository } from '../../apps/server/src/modules/speculation/copy-placements.repository.js';
import { EventsService } from '../../apps/server/src/modules/events/events.service.js';
import { WorkStealingService, type StealOutcome } from '../../apps/server/src/modules/endpoint-groups/work-stealing.service.js';

/**
 * An endpoint group lets one user's tasks run on another user's endpoint (an accepted member). What
 * that member's owner may then see and change stays within what running the task needs:
 *  - their console sees none of the group owner's task changes (the tasks' owner is not the endpoint's);
 *  - what their agent returns for a public shareable function's task never fills the shared cache
 *    that every caller of the function reads;
 * and a result an agent sends again after its entry was cleared does not bring the entry back. A member
 * whose agent runs tasks without bubblewrap (it says `ownerOnly`) is sent none of them.
 */
jest.setTimeout(300_000);

const result = (taskId: string, value: unknown) => ({ taskId, attempt: 0, status: 'success' as const, result: value, timings: {} });

describe.each(['embedded', 'postgres+redis'] as const)('tasks of an endpoint group on another user’s endpoint, on %s', (backend) => {
  let server: TestServer;
  let alice: TestUser;
  let mallory: TestUser;
  let carol: TestUser;
  let fn: string;
  let aliceEp: { id: string; token: string };
  let malloryEp: { id: string; token: string };
  let carolEp: string;
  let groupId: string;
  let alicePeer: ProtocolPeer;
  let malloryPeer: ProtocolPeer;
  let aliceConsole: RawSocket;
  let malloryConsole: RawSocket;

  const endpoint = async (u: TestUser, name: string) => {
    const r = await u.api('POST', '/v1/endpoints', { name });
    expect(r.status).toBe(201);
    return { id: r.body.endpoint.id as string, token: r.body.token as string };
  };
  const peer = async (token: string) => {
    const p = await ProtocolPeer.connect(server.url, token);
    p.hello();
    await p.next('welcome');
    return p;
  };
  const consoleOf = async (u: TestUser) => {
    const s = RawSocket.open(server.url, '/v1/ws/console');
    await s.ready();
    s.send('auth', { token: u.token });
    await s.next('ready');
    return s;
  };
  const submit = async (u: TestUser, endpointId: string, args: unknown[]) => {
    const r = await u.api('POST', '/v1/tasks', { functionId: fn, endpointId, args });
    expect(r.status).toBe(201);
    return r.body.taskId as string;
  };
  const get = async (u: TestUser, id: string) => (await u.api('GET', `/v1/tasks/${id}`)).body;
  /**
   * A task of the memoized function goes in `received` and waits for an endpoint once its execution has
   * started, just after the submission's reply: until then routing counts it on no member, and rerouting
   * does not see it (the repair sweep moves it later).
   */
  const queued = (u: TestUser, id: string) =>
    eventually(async () => ((await get(u, id)).status === 'waiting-for-endpoint' ? true : undefined), 10_000, `task ${id} waiting for an endpoint`, FRAME_POLL);
  /** What each idle member's look for other members' waiting tasks came to (WorkStealingService.steal), in order. */
  const looks: Array<{ endpointId: string; outcome: StealOutcome }> = [];
  /** Sends an idle member's agent credits, and waits for its look for other members' waiting tasks: what it came to. */
  const creditsThenLook = async (p: ProtocolPeer, endpointId: string, credits: number) => {
    const from = looks.length;
    p.send('credits', { credits });
    const look = await eventually(() => looks.slice(from).find((l) => l.endpointId === endpointId), 10_000, `a steal look of ${endpointId}`, FRAME_POLL);
    return look.outcome;
  };
  /** A new endpoint of mallory's, the one member of a new group of alice's, accepted by mallory. */
  const mallorysMember = async (endpointName: string, groupName: string) => {
    const ep = await endpoint(mallory, endpointName);
    const g = await alice.api('POST', '/v1/endpoint-groups', { name: groupName, members: [ep.id] });
    expect(g.status).toBe(201);
    expect((await mallory.api('POST', `/v1/endpoint-groups/${g.body.id}/members/${ep.id}/accept`)).status).toBeLessThan(300);
    return { ep, groupId: g.body.id as string };
  };
  /** mallorysMember, its agent connected, holding alice's task with these args. */
  const heldByMember = async (endpointName: string, groupName: string, args: unknown[]) => {
    const { ep, groupId } = await mallorysMember(endpointName, groupName);
    const member = await peer(ep.token);
    member.send('credits', { credits: 1 });
    const task = await submit(alice, groupId, args);
    expect((await member.tasks(1))[0]!.taskId).toBe(task);
    return { ep, groupId, member, task };
  };
  /** alice's task, held by her own endpoint's agent, in a new group of hers that mallory's new endpoint then joins (accepted). */
  const heldByAlice = async (endpointName: string, groupName: string, args: unknown[]) => {
    const g = await alice.api('POST', '/v1/endpoint-groups', { name: groupName, members: [aliceEp.id] });
    expect(g.status).toBe(201);
    alicePeer.send('credits', { credits: 1 });
    const task = await submit(alice, g.body.id, args);
    expect((await alicePeer.tasks(1))[0]!.taskId).toBe(task);
    const ep = await endpoint(mallory, endpointName);
    expect((await alice.api('POST', `/v1/endpoint-groups/${g.body.id}/members`, { endpointId: ep.id })).status).toBe(201);
    expect((await mallory.api('POST', `/v1/endpoint-groups/${g.body.id}/members/${ep.id}/accept`)).status).toBeLessThan(300);
    return { g: g.body.id as string, task, ep };
  };
  /** An agent of mallory's endpoint that runs tasks without bubblewrap (uid or none): it says so in its heartbeats. */
  const ownerOnlyPeer = async (ep: { id: string; token: string }) => {
    const p = await peer(ep.token);
    p.send('heartbeat', { state: 'RUNNING', workers: { total: 4, busy: 0, idle: 4 }, queued: 0, running: 0, spooled: 0, provider: 'local', ownerOnly: true });
    const stored = async () => ((await mallory.api('GET', `/v1/endpoints/${ep.id}`)).body.status?.ownerOnly ? true : undefined);
    await eventually(stored, 10_000, 'the heartbeat stored', FRAME_POLL);
    return p;
  };
  /** A speculative copy of `task` placed on `endpointId` (as the sweep places one), its agent told to take it. */
  const copyOn = async (task: string, endpointId: string) => {
    expect(await server.app.get(CopiesRepository).launch([{ taskId: task, attempt: 0, endpointId }])).toHaveLength(1);
    await server.app.get(EventsService).publish('speculate', { endpointIds: [endpointId] });
  };
  /** heldByMember, its task started there, and alice's endpoint, added to the group, sent the task's speculative copy. */
  const copiedToAlice = async (endpointName: string, groupName: string, args: unknown[]) => {
    const held = await heldByMember(endpointName, groupName, args);
    held.member.send('started', { tasks: [{ taskId: held.task, startedAt: Date.now() }] });
    expect((await alice.api('POST', `/v1/endpoint-groups/${held.groupId}/members`, { endpointId: aliceEp.id })).status).toBe(201);
    await copyOn(held.task, aliceEp.id);
    expect((await alicePeer.tasks(1))[0]).toMatchObject({ taskId: held.task, copy: true });
    return held;
  };
  /** heldByAlice, and mallory's endpoint's agent, connected, sent the task's speculative copy. */
  const copiedToMallory = async (endpointName: string, groupName: string, args: unknown[]) => {
    const held = await heldByAlice(endpointName, groupName, args);
    const member = await peer(held.ep.token);
    await copyOn(held.task, held.ep.id);
    expect((await member.tasks(1))[0]).toMatchObject({ taskId: held.task, copy: true });
    return { ...held, member };
  };
  const attempt = async (id: string, speculative: boolean) =>
    ((await get(alice, id)).attempts as Array<{ speculative: boolean; status: string; endpointId: string; error?: { code: string } }>).find(
      (a) => a.speculative === speculative,
    );
  const finished = (u: TestUser, id: string) =>
    eventually(async () => ((await get(u, id)).status === 'success' ? get(u, id) : undefined), 10_000, `task ${id} finished`, FRAME_POLL);
  const seenBy = (s: RawSocket, id: string) =>
    s.frames.filter((f) => f.type === 'events').flatMap((f) => f.payload.tasks.filter((t: { id: string }) => t.id === id) as Array<{ status: string }>);

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_LOG_LEVEL: 'error', FX_RATE_LIMIT_PER_SECOND: '0' });
    const stealing = server.app.get(WorkStealingService);
    const steal = stealing.steal.bind(stealing);
    jest.spyOn(stealing, 'steal').mockImplementation(async (endpointId, credits) => {
      const outcome = await steal(endpointId, credits);
      looks.push({ endpointId, outcome });
      return outcome;
    });
    [alice, mallory, carol] = [await mkUser(server, 'alice'), await mkUser(server, 'mallory'), await mkUser(server, 'carol')];
    const f = await alice.api('POST', '/v1/functions', {
      name: 'shared',
      runtime: 'js',
      source: '(x) => x',
      public: true,
      cache: { ttlSeconds: 600, shareable: true },
    });
    expect(f.status).toBe(201);
    fn = f.body.id;
    aliceEp = await endpoint(alice, 'alice-ep');
    malloryEp = await endpoint(mallory, 'mallory-ep');
    carolEp = (await endpoint(carol, 'carol-ep')).id;
    // alice's group has one member: mallory's endpoint, once mallory accepts
    const g = await alice.api('POST', '/v1/endpoint-groups', { name: 'pool', members: [malloryEp.id] });
    expect(g.status).toBe(201);
    groupId = g.body.id;
    expect((await mallory.api('POST', `/v1/endpoint-groups/${groupId}/members/${malloryEp.id}/accept`)).status).toBeLessThan(300);
    alicePeer = await peer(aliceEp.token);
    malloryPeer = await peer(malloryEp.token);
    aliceConsole = await consoleOf(alice);
    malloryConsole = await consoleOf(mallory);
  });

  afterAll(async () => {
    for (const c of [alicePeer, malloryPeer]) c?.close();
    for (const s of [aliceConsole, malloryConsole]) s?.close();
    await server?.stop();
  });

  it("shows the group owner's task changes in their console only, and fills no shared entry from the member's result", async () => {
    malloryPeer.send('credits', { credits: 1 });
    const poisoned = await submit(alice, groupId, ['asked']);
    const [spec] = await malloryPeer.tasks(1);
    expect(spec!.taskId).toBe(poisoned);
    malloryPeer.send('started', { tasks: [{ taskId: poisoned, startedAt: Date.now() }] });
    // alice's console sees her task run on mallory's endpoint; mallory's sees none of it
    await eventually(() => seenBy(aliceConsole, poisoned).some((t) => t.status === 'running'), 5_000, 'alice sees her task running', FRAME_POLL);
    // what mallory's agent returns reaches alice's task: she chose to run it there
    malloryPeer.send('results', { results: [result(poisoned, 'forged by mallory')] });
    await malloryPeer.next('ack');
    expect((await finished(alice, poisoned)).result).toBe('forged by mallory');
    await sleep(600);
    expect(seenBy(malloryConsole, poisoned)).toEqual([]);

    // carol's identical task of alice's public function is not completed from it: it waits to run
    const carols = await submit(carol, carolEp, ['asked']);
    await sleep(300);
    const t = await get(carol, carols);
    expect(t.status).not.toBe('success');
    expect(t.cachedFrom ?? null).toBeNull();
  });

  it("never holds the owner's identical tasks on her own endpoints for her task a member's agent holds", async () => {
    malloryPeer.send('credits', { credits: 1 });
    const held = await submit(alice, groupId, ['held']);
    const [spec] = await malloryPeer.tasks(1);
    expect(spec!.taskId).toBe(held);
    malloryPeer.send('started', { tasks: [{ taskId: held, startedAt: Date.now() }] });
    // her own identical task runs itself: it does not wait for the run on mallory's endpoint, which fills
    // no entry and which mallory's agent could hold without a word for as long as it likes
    const own = await submit(alice, aliceEp.id, ['held']);
    await eventually(async () => ((await get(alice, own)).status === 'waiting-for-endpoint' ? true : undefined), 5_000, 'her own task queued', FRAME_POLL);
    alicePeer.send('credits', { credits: 1 });
    expect((await alicePeer.tasks(1))[0]!.taskId).toBe(own);
    alicePeer.send('results', { results: [result(own, 'computed by alice')] });
    await alicePeer.next('ack');
    malloryPeer.send('results', { results: [result(held, 'from mallory')] });
    await malloryPeer.next('ack');
    expect((await finished(alice, own)).cachedFrom ?? null).toBeNull();
  });

  it("fills the shared entry from the owner's own endpoint, and a result sent again after a clear does not bring it back", async () => {
    alicePeer.send('credits', { credits: 1 });
    const own = await submit(alice, aliceEp.id, ['clean']);
    await alicePeer.tasks(1);
    alicePeer.send('results', { results: [result(own, 'computed by alice')] });
    await alicePeer.next('ack');
    await finished(alice, own);
    const hit = await finished(carol, await submit(carol, carolEp, ['clean']));
    // served from alice's entry; the id of her task is hers to see, not carol's (cached-source.ts)
    expect(hit).toMatchObject({ result: 'computed by alice', cached: true, cachedFrom: null });

    expect((await alice.api('DELETE', `/v1/functions/${fn}/cache`)).status).toBe(200);
    // alice's agent sends the result again (a reconnect with a spooled result): acknowledged, refills nothing
    alicePeer.send('results', { results: [result(own, 'computed by alice')] });
    await alicePeer.next('ack');
    await sleep(300);
    const after = await get(carol, await submit(carol, carolEp, ['clean']));
    expect(after.status).not.toBe('success');
    expect(after.cached).toBe(false);
  });

  it('leases a task that came back to the queue of a member which left the group to an active member only', async () => {
    malloryPeer.send('credits', { credits: 1 });
    const task = await submit(alice, groupId, ['moved']);
    const [spec] = await malloryPeer.tasks(1);
    expect(spec!.taskId).toBe(task);
    // alice's own endpoint joins; mallory takes hers out of the group while her agent holds the task
    expect((await alice.api('POST', `/v1/endpoint-groups/${groupId}/members`, { endpointId: aliceEp.id })).status).toBe(201);
    expect((await mallory.api('DELETE', `/v1/endpoint-groups/${groupId}/members/${malloryEp.id}`)).status).toBe(204);
    // her agent reconnects without it: the lease is lost and the task is back in her endpoint's queue
    malloryPeer.close();
    await malloryPeer.waitClosed();
    malloryPeer = await peer(malloryEp.token);
    malloryPeer.send('credits', { credits: 10 });
    alicePeer.send('credits', { credits: 1 });
    const [moved] = await alicePeer.tasks(1, 15_000);
    expect(moved!.taskId).toBe(task);
    expect(malloryPeer.frames.filter((f) => f.type === 'tasks')).toEqual([]);
    // a task of a group deleted since stays with the member chosen for it
    const last = await submit(alice, groupId, ['last']);
    expect((await alice.api('DELETE', `/v1/endpoint-groups/${groupId}`)).status).toBe(204);
    alicePeer.send('credits', { credits: 1 });
    expect((await alicePeer.tasks(1))[0]!.taskId).toBe(last);
  });

  it("takes the group's tasks back from a member its owner removes, though its agent still holds them", async () => {
    const { ep, groupId, member, task } = await heldByMember('mallory-removed', 'pool-removed', ['held-on']);
    member.send('started', { tasks: [{ taskId: task, startedAt: Date.now() }] });
    expect((await alice.api('POST', `/v1/endpoint-groups/${groupId}/members`, { endpointId: aliceEp.id })).status).toBe(201);
    // its heartbeats kept the lease alive for as long as it liked: removing it took nothing back
    expect((await alice.api('DELETE', `/v1/endpoint-groups/${groupId}/members/${ep.id}`)).status).toBe(204);
    const cancel = await member.next('cancel');
    expect(cancel.payload.taskIds).toEqual([task]);
    alicePeer.send('credits', { credits: 1 });
    expect((await alicePeer.tasks(1, 15_000))[0]!.taskId).toBe(task);
    // what the former member sends for it now changes nothing
    member.send('results', { results: [result(task, 'from the former member')] });
    await member.next('ack');
    alicePeer.send('results', { results: [result(task, 'from alice')] });
    await alicePeer.next('ack');
    expect((await finished(alice, task)).result).toBe('from alice');
    member.close();
  });

  it("gives up a removed member's attempt of a task whose speculative copy runs on another member, which alone finishes it", async () => {
    const { ep, groupId, member, task } = await copiedToAlice('mallory-original', 'pool-original', ['spec-original']);
    expect((await alice.api('DELETE', `/v1/endpoint-groups/${groupId}/members/${ep.id}`)).status).toBe(204);
    // its agent is told to stop it; the task runs on as its copy, neither requeued nor run a third time
    expect((await member.next('cancel')).payload.taskIds).toEqual([task]);
    expect((await get(alice, task)).status).toBe('running');
    expect(await attempt(task, false)).toMatchObject({ status: 'lost', endpointId: ep.id });
    // what the former member sends for it, or claims as it reconnects, changes nothing
    member.send('results', { results: [result(task, 'from the former member')] });
    await member.next('ack');
    member.close();
    await member.waitClosed();
    const again = await ProtocolPeer.connect(server.url, ep.token);
    again.hello([task]);
    await again.next('welcome');
    again.send('results', { results: [result(task, 'from the former member, again')] });
    await again.next('ack');
    expect((await get(alice, task)).status).toBe('running');
    alicePeer.send('results', { results: [{ ...result(task, 'from the copy'), copy: true }] });
    await alicePeer.next('ack');
    expect((await finished(alice, task)).result).toBe('from the copy');
    again.close();
  });

  it('requeues at once, on a current member, a task a removed member gave up beside its speculative copy once that copy fails', async () => {
    const { ep, groupId, member, task } = await copiedToAlice('mallory-given-up', 'pool-given-up', ['spec-given-up']);
    expect((await alice.api('DELETE', `/v1/endpoint-groups/${groupId}/members/${ep.id}`)).status).toBe(204);
    expect((await member.next('cancel')).payload.taskIds).toEqual([task]);
    // the copy fails: nothing runs the task any more, so by the copy's ack it is back, on alice's endpoint (the member left)
    const error = { code: 'TASK_ERROR' as const, name: 'Error', message: 'the copy failed' };
    alicePeer.send('results', { results: [{ taskId: task, attempt: 0, status: 'failed', error, timings: {}, copy: true }] });
    await alicePeer.next('ack');
    const back = await get(alice, task);
    expect([back.endpointId, back.attempt, ['waiting-for-endpoint', 'dispatched'].includes(back.status)]).toEqual([aliceEp.id, 1, true]);
    alicePeer.send('credits', { credits: 1 });
    expect((await alicePeer.tasks(1))[0]).toMatchObject({ taskId: task, attempt: 1 });
    alicePeer.send('results', { results: [{ ...result(task, 'from alice'), attempt: 1 }] });
    await alicePeer.next('ack');
    expect((await finished(alice, task)).result).toBe('from alice');
    member.close();
  });

  it("ends a removed member's speculative copy of a task whose original runs on another member, which alone finishes it", async () => {
    const { g, task, ep, member } = await copiedToMallory('mallory-copy', 'pool-copy', ['spec-copy']);
    // mallory takes her endpoint out: its copy ends, and its agent is told to stop it
    expect((await mallory.api('DELETE', `/v1/endpoint-groups/${g}/members/${ep.id}`)).status).toBe(204);
    expect((await member.next('cancel')).payload.taskIds).toEqual([task]);
    expect(await attempt(task, true)).toMatchObject({ status: 'lost', endpointId: ep.id });
    // its copy's result wins nothing: the original, still running on alice's endpoint, decides
    member.send('results', { results: [{ ...result(task, 'from the former member'), copy: true }] });
    await member.next('ack');
    expect((await get(alice, task)).status).toBe('dispatched');
    alicePeer.send('results', { results: [result(task, 'from alice')] });
    await alicePeer.next('ack');
    expect((await finished(alice, task)).result).toBe('from alice');
    member.close();
  });

  it("sends no speculative copy of another user's task to a member whose agent said since it was placed that it runs only its owner's", async () => {
    const { task, ep } = await heldByAlice('mallory-bare-copy', 'pool-bare-copy', ['bare-copy']);
    // the copy was placed while its agent ran tasks under bubblewrap; its heartbeat now says it does not
    const bare = await ownerOnlyPeer(ep);
    await copyOn(task, ep.id);
    await eventually(async () => ((await attempt(task, true))?.status === 'cancelled' ? true : undefined), 10_000, 'the copy ended', FRAME_POLL);
    expect((await attempt(task, true))?.error?.code).toBe('ISOLATION_REQUIRED');
    expect(bare.frames.filter((f) => f.type === 'tasks')).toEqual([]);
    // the original runs on and decides
    alicePeer.send('results', { results: [result(task, 'from alice')] });
    await alicePeer.next('ack');
    expect((await finished(alice, task)).result).toBe('from alice');
    bare.close();
  });

  it("places a speculative copy refused by a member that runs only its owner's tasks on another member, whose result wins", async () => {
    const { g, task, ep } = await heldByAlice('mallory-refusing', 'pool-refusing', ['refused-copy']);
    const third = await endpoint(mallory, 'mallory-replaced');
    expect((await alice.api('POST', `/v1/endpoint-groups/${g}/members`, { endpointId: third.id })).status).toBe(201);
    expect((await mallory.api('POST', `/v1/endpoint-groups/${g}/members/${third.id}/accept`)).status).toBeLessThan(300);
    const thirdPeer = await peer(third.token);
    const bare = await ownerOnlyPeer(ep);
    await copyOn(task, ep.id);
    // refused where it was placed, before it ran; the sweep places it on the other member, which is sent it
    expect((await thirdPeer.tasks(1, 15_000))[0]).toMatchObject({ taskId: task, copy: true });
    thirdPeer.send('results', { results: [{ ...result(task, 'from the second placement'), timings: { workerId: 'w-third' }, copy: true }] });
    await thirdPeer.next('ack');
    const done = await finished(alice, task);
    expect(done.result).toBe('from the second placement');
    expect(done.attempts.filter((a: { speculative: boolean }) => a.speculative)).toEqual([
      expect.objectContaining({ status: 'cancelled', endpointId: ep.id, error: expect.objectContaining({ code: 'ISOLATION_REQUIRED' }) }),
      expect.objectContaining({ status: 'success', endpointId: third.id, workerId: 'w-third' }),
    ]);
    expect(bare.frames.filter((f) => f.type === 'tasks')).toEqual([]);
    for (const p of [bare, thirdPeer]) p.close();
  });

  it('places a speculative copy a member refused through a failed result before it ran on another member; one that ran and failed is not placed again', async () => {
    const { g, task, ep, member } = await copiedToMallory('mallory-not-allowed', 'pool-not-allowed', ['not-allowed-copy']);
    const third = await endpoint(mallory, 'mallory-placed-again');
    expect((await alice.api('POST', `/v1/endpoint-groups/${g}/members`, { endpointId: third.id })).status).toBe(201);
    expect((await mallory.api('POST', `/v1/endpoint-groups/${g}/members/${third.id}/accept`)).status).toBeLessThan(300);
    const thirdPeer = await peer(third.token);
    // the member's agent refuses it at intake (its allow-list, say): a failed result, never started
    const refused = { code: 'FUNCTION_NOT_ALLOWED' as const, name: 'FunctionNotAllowed', message: 'this endpoint does not allow the function' };
    member.send('results', { results: [{ taskId: task, attempt: 0, status: 'failed', error: refused, timings: {}, copy: true }] });
    await member.next('ack');
    // the sweep places it on the other member, which is sent it
    expect((await thirdPeer.tasks(1, 15_000))[0]).toMatchObject({ taskId: task, copy: true });
    thirdPeer.send('started', { tasks: [{ taskId: task, startedAt: Date.now(), copy: true }] });
    // that one ran and failed: it ends, and the task is left to its original
    const ran = { code: 'TASK_ERROR' as const, name: 'Error', message: 'the copy failed' };
    thirdPeer.send('results', { results: [{ taskId: task, attempt: 0, status: 'failed', error: ran, timings: { workerId: 'w-third' }, copy: true }] });
    await thirdPeer.next('ack');
    await eventually(
      async () => ((await get(alice, task)).attempts.filter((a: { speculative: boolean }) => a.speculative).length === 2 ? true : undefined),
      10_000,
      'both placements archived',
      FRAME_POLL,
    );
    expect((await get(alice, task)).attempts.filter((a: { speculative: boolean }) => a.speculative)).toEqual([
      expect.objectContaining({ status: 'cancelled', endpointId: ep.id, error: expect.objectContaining({ code: 'FUNCTION_NOT_ALLOWED' }) }),
      expect.objectContaining({ status: 'failed', endpointId: third.id, error: expect.objectContaining({ code: 'TASK_ERROR' }) }),
    ]);
    // a sweep later, no member was sent it again
    await sleep(1_500);
    expect(await server.app.get(CopyPlacementsRepository).refused(1_000)).not.toContainEqual(expect.objectContaining({ id: task }));
    expect([member, thirdPeer].map((p) => p.frames.filter((f) => f.type === 'tasks'))).toEqual([[], []]);
    alicePeer.send('results', { results: [result(task, 'from alice')] });
    await alicePeer.next('ack');
    expect((await finished(alice, task)).result).toBe('from alice');
    for (const p of [member, thirdPeer]) p.close();
  });

  it("lets the member running a task's speculative copy store its result, the copy's uploads capped apart from the original's, and the result the task's when the copy wins", async () => {
    const { ep, groupId, member, task } = await heldByMember('mallory-copy-store-1', 'pool-copy-store', ['copy-store']);
    const other = await endpoint(mallory, 'mallory-copy-store-2');
    expect((await alice.api('POST', `/v1/endpoint-groups/${groupId}/members`, { endpointId: other.id })).status).toBe(201);
    expect((await mallory.api('POST', `/v1/endpoint-groups/${groupId}/members/${other.id}/accept`)).status).toBeLessThan(300);
    const copier = await peer(other.token);
    await copyOn(task, other.id);
    expect((await copier.tasks(1))[0]!.copy).toBe(true);
    // the original's member fills its cap for this attempt; the copy's uploads are counted apart
    const original = objectsClient(server.url, ep.token);
    for (let i = 0; i < MAX_MEMBER_UPLOADS_PER_TASK; i++)
      expect((await original.createUpload({ taskId: task, name: `orig/${i}`, encoding: 'bytes' })).status).toBe(201);
    const copy = objectsClient(server.url, other.token);
    const value = Buffer.from(JSON.stringify({ from: 'the copy' }));
    const up = await copy.createUpload({ taskId: task, encoding: 'json', size: value.length });
    expect(up.status).toBe(201);
    // neither run writes to the other's upload
    expect((await original.putPart(up.body.uploadId, 0, value)).status).toBe(404);
    expect((await copy.putPart(up.body.uploadId, 0, value)).status).toBe(200);
    const stored = await copy.complete(up.body.uploadId);
    expect(stored.status).toBe(201);
    for (let i = 1; i < MAX_MEMBER_UPLOADS_PER_TASK; i++)
      expect((await copy.createUpload({ taskId: task, name: `copy/${i}`, encoding: 'bytes' })).status).toBe(201);
    const past = await copy.createUpload({ taskId: task, name: 'copy/last', encoding: 'bytes' });
    expect([past.status, past.body.code]).toEqual([429, 'QUOTA_EXCEEDED']);
    copier.send('results', { results: [{ taskId: task, attempt: 0, status: 'success', resultRef: stored.body.ref, timings: {}, copy: true }] });
    await copier.next('ack');
    expect((await finished(alice, task)).resultRef.id).toBe(stored.body.id);
    expect(await attempt(task, true)).toMatchObject({ status: 'success' });
    member.close();
    copier.close();
  });

  it("records a result the task's speculative copy stored only as the copy's: its original attempt may not report it as its own", async () => {
    const { task, ep, member } = await copiedToMallory('mallory-copy-claim', 'pool-copy-claim', ['copy-claim']);
    const copy = objectsClient(server.url, ep.token);
    const value = Buffer.from(JSON.stringify('stored by the copy'));
    const up = await copy.createUpload({ taskId: task, encoding: 'json' });
    expect(up.status).toBe(201);
    expect((await copy.putPart(up.body.uploadId, 0, value)).status).toBe(200);
    const stored = await copy.complete(up.body.uploadId);
    expect(stored.status).toBe(201);
    // the original reports the copy's object: it holds no output of the original's run
    alicePeer.send('results', { results: [{ taskId: task, attempt: 0, status: 'success', resultRef: stored.body.ref, timings: {} }] });
    await alicePeer.next('ack');
    const failed = await eventually(async () => ((await get(alice, task)).status === 'failed' ? get(alice, task) : undefined), 10_000, 'failed', FRAME_POLL);
    expect(failed.error.code).toBe('OBJECT_UNAVAILABLE');
    // and the copy, reporting it now, changes nothing: the task ended
    member.send('results', { results: [{ taskId: task, attempt: 0, status: 'success', resultRef: stored.body.ref, timings: {}, copy: true }] });
    await member.next('ack');
    expect((await get(alice, task)).status).toBe('failed');
    member.close();
  });

  it("lets a task's speculative copy store a named output under a free name, never over its original attempt's", async () => {
    const { member, task, ep } = await copiedToAlice('mallory-copy-names', 'pool-copy-names', ['copy-names']);
    const store = async (token: string, name: string, bytes: string) => {
      const agent = objectsClient(server.url, token);
      const up = await agent.createUpload({ taskId: task, name, encoding: 'bytes' });
      expect(up.status).toBe(201);
      expect((await agent.putPart(up.body.uploadId, 0, Buffer.from(bytes))).status).toBe(200);
      return agent.complete(up.body.uploadId);
    };
    // the original stored it first: the copy (here on alice's own endpoint) does not replace it
    expect((await store(ep.token, 'copy-names/out', 'from the original')).status).toBe(201);
    const clash = await store(aliceEp.token, 'copy-names/out', 'from the copy');
    expect([clash.status, clash.body.message]).toEqual([403, expect.stringMatching(/stored by its original attempt/)]);
    expect((await store(aliceEp.token, 'copy-names/free', 'from the copy')).status).toBe(201);
    const listed = await alice.api('GET', '/v1/objects?prefix=copy-names/');
    expect((listed.body.items as Array<{ name: string; size: number }>).map((o) => [o.name, o.size]).sort()).toEqual([
      ['copy-names/free', 13],
      ['copy-names/out', 17],
    ]);
    alicePeer.send('results', { results: [{ ...result(task, 'from the copy'), copy: true }] });
    await alicePeer.next('ack');
    expect((await finished(alice, task)).result).toBe('from the copy');
    member.close();
  });

  it("keeps a speculative copy running on a member whose agent reconnects naming it, as the copy it is, the original's lease untouched", async () => {
    const { task, ep, member } = await copiedToMallory('mallory-copy-back', 'pool-copy-back', ['copy-back']);
    member.send('started', { tasks: [{ taskId: task, startedAt: Date.now(), copy: true }] });
    member.close();
    await member.waitClosed();
    const again = await ProtocolPeer.connect(server.url, ep.token);
    again.hello([task]);
    // its agent keeps the copy: it is not told to forget it
    expect((await again.next('welcome')).payload.forget).toEqual([]);
    const from = alicePeer.frames.length;
    again.send('results', { results: [{ ...result(task, 'from the copy, after its reconnect'), copy: true }] });
    await again.next('ack');
    expect((await finished(alice, task)).result).toBe('from the copy, after its reconnect');
    // the original was still alice's agent's: it is told to stop it, and its attempt is superseded there
    expect((await alicePeer.next('cancel', 10_000, from)).payload).toMatchObject({ taskIds: [task], copy: false });
    expect(await attempt(task, false)).toMatchObject({ status: 'superseded', endpointId: aliceEp.id });
    expect(await attempt(task, true)).toMatchObject({ status: 'success' });
    again.close();
  });

  it("moves a group's task off a member endpoint that its owner deletes, rather than failing it", async () => {
    const { ep, groupId } = await mallorysMember('mallory-second', 'pool-2');
    const task = await submit(alice, groupId, ['kept']);
    expect((await alice.api('POST', `/v1/endpoint-groups/${groupId}/members`, { endpointId: aliceEp.id })).status).toBe(201);
    // mallory deleting her endpoint decides nothing about alice's task: it goes to the other member
    expect((await mallory.api('DELETE', `/v1/endpoints/${ep.id}`)).status).toBe(204);
    alicePeer.send('credits', { credits: 1 });
    expect((await alicePeer.tasks(1, 15_000))[0]!.taskId).toBe(task);
    expect((await get(alice, task)).status).toBe('dispatched');
  });

  it("lets a member endpoint store the group owner's task's named outputs under free names only, never over her objects", async () => {
    const { ep, groupId } = await mallorysMember('mallory-third', 'pool-3');
    const aliceObjects = objectsClient(server.url, alice.token);
    const precious = (await aliceObjects.put(Buffer.from('alice data'), { name: 'data/precious' })).body;
    // the welcome names the endpoint's owner: an agent without bubblewrap runs no one else's tasks
    const probe = await ProtocolPeer.connect(server.url, ep.token);
    probe.hello();
    expect((await probe.next('welcome')).payload.ownerId).toBe(mallory.id);
    probe.close();
    await probe.waitClosed();
    const member = await peer(ep.token);
    member.send('credits', { credits: 1 });
    const task = await submit(alice, groupId, ['outputs']);
    expect((await member.tasks(1))[0]!.taskId).toBe(task);
    const store = async (name: string, bytes: string) => {
      const agent = objectsClient(server.url, ep.token);
      const up = await agent.createUpload({ taskId: task, name, encoding: 'bytes' });
      expect(up.status).toBe(201);
      expect((await agent.putPart(up.body.uploadId, 0, Buffer.from(bytes))).status).toBe(200);
      return agent.complete(up.body.uploadId);
    };
    // her object of that name stays hers, untouched
    const over = await store('data/precious', 'forged');
    expect(over.status).toBe(403);
    expect(over.body.message).toMatch(/holds an object of the task's owner that this endpoint did not store/);
    const kept = await aliceObjects.list({ name: 'data/precious' });
    expect(kept.body.items.map((o: { id: string }) => o.id)).toEqual([precious.id]);
    expect((await aliceObjects.content(precious.id)).bytes.toString()).toBe('alice data');
    // her triggers: one on out/ (the default: her own puts only), one that takes her members' outputs
    const trigEp = await endpoint(alice, 'alice-triggers');
    const own = (await alice.api('POST', '/v1/triggers', { prefix: 'out/', function: fn, endpoint: trigEp.id })).body;
    const members = (await alice.api('POST', '/v1/triggers', { prefix: 'shared/', function: fn, endpoint: trigEp.id, fromMembers: true })).body;
    expect([own.fromMembers, members.fromMembers]).toEqual([false, true]);
    // a free name, and the member's own output under it again, are stored (as alice's)
    const first = await store('out/result', 'one');
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ ownerId: alice.id, name: 'out/result' });
    const second = await store('out/result', 'two');
    expect(second.status).toBe(201);
    // ...but start none of her tasks through a trigger that does not take members' outputs
    const firing = (t: string, o: string) => alice.api('GET', `/v1/tasks/${firingTaskId(t, o)}`);
    await eventually(async () => (await alice.api('GET', `/v1/triggers/${own.id}`)).body.fired === 2, 10_000, 'both outputs recorded', FRAME_POLL);
    expect([(await firing(own.id, first.body.id)).status, (await firing(own.id, second.body.id)).status]).toEqual([404, 404]);
    const shared = await store('shared/x', 'three');
    const fired = await eventually(
      async () => ((await firing(members.id, shared.body.id)).status === 200 ? firing(members.id, shared.body.id) : undefined),
      10_000,
    );
    expect(fired.body).toMatchObject({ ownerId: alice.id, endpointId: trigEp.id, args: [shared.body.ref] });
    // her own put under out/ fires as ever
    const mine = (await aliceObjects.put(Buffer.from('alice'), { name: 'out/mine' })).body;
    await eventually(async () => (await firing(own.id, mine.id)).status === 200, 10_000, 'her own put fired', FRAME_POLL);
    member.close();
  });

  it("lets a member endpoint open only so many uploads for one task of the group owner's, her own endpoints as many as they like", async () => {
    const { ep, member, task } = await heldByMember('mallory-uploads', 'pool-uploads', ['uploads']);
    const agent = objectsClient(server.url, ep.token);
    // each open upload is hers (her quota, her open uploads): mallory's agent could open 10,000 of them
    for (let i = 0; i < MAX_MEMBER_UPLOADS_PER_TASK; i++)
      expect((await agent.createUpload({ taskId: task, name: `many/${i}`, encoding: 'bytes' })).status).toBe(201);
    const past = await agent.createUpload({ taskId: task, name: 'many/last', encoding: 'bytes' });
    expect([past.status, past.body.code]).toEqual([429, 'QUOTA_EXCEEDED']);
    expect(past.body.message).toMatch(/stores at most 100 objects for one of their tasks/);
    // her own endpoint's agent is not counted
    alicePeer.send('credits', { credits: 1 });
    const own = await submit(alice, aliceEp.id, ['uploads-own']);
    expect((await alicePeer.tasks(1))[0]!.taskId).toBe(own);
    const hers = objectsClient(server.url, aliceEp.token);
    for (let i = 0; i <= MAX_MEMBER_UPLOADS_PER_TASK; i++)
      expect((await hers.createUpload({ taskId: own, name: `mine/${i}`, encoding: 'bytes' })).status).toBe(201);
    member.close();
  });

  it("counts a member's uploads for a task of the group owner's per attempt: a requeued task's new attempt owes nothing for the last one's", async () => {
    const { ep, member, task } = await heldByMember('mallory-attempts', 'pool-attempts', ['attempts']);
    const agent = objectsClient(server.url, ep.token);
    const open = (name: string) => agent.createUpload({ taskId: task, name, encoding: 'bytes' });
    for (let i = 0; i < MAX_MEMBER_UPLOADS_PER_TASK; i++) expect((await open(`first/${i}`)).status).toBe(201);
    expect((await open('first/last')).status).toBe(429);
    // its agent reconnects without the task: the lease is lost, and the task comes back to it as attempt 1
    member.close();
    await member.waitClosed();
    const again = await peer(ep.token);
    again.send('credits', { credits: 1 });
    const [next] = await again.tasks(1, 15_000);
    expect([next!.taskId, next!.attempt]).toEqual([task, 1]);
    for (let i = 0; i < MAX_MEMBER_UPLOADS_PER_TASK; i++) expect((await open(`second/${i}`)).status).toBe(201);
    // the cap holds for this attempt as for the first
    const past = await open('second/last');
    expect([past.status, past.body.code]).toEqual([429, 'QUOTA_EXCEEDED']);
    again.close();
  });

  it("routes another user's tasks around a member that runs only its owner's, which steals none of them either", async () => {
    const { ep: bareEp, groupId } = await mallorysMember('mallory-bare', 'pool-bare');
    // her agent runs tasks without bubblewrap (uid or none): it says so in its heartbeats
    const bare = await ownerOnlyPeer(bareEp);
    try {
      // its only member may not run alice's tasks: refused at submit, saying why
      const refused = await alice.api('POST', '/v1/tasks', { functionId: fn, endpointId: groupId, args: ['bare'] });
      expect([refused.status, refused.body.code]).toEqual([409, 'ISOLATION_REQUIRED']);
      expect(refused.body.message).toMatch(/without bubblewrap/);
      // beside an endpoint of alice's (busy: no credits), her tasks go there, and the idle member takes none
      const own = await endpoint(alice, 'alice-bare');
      const ownPeer = await peer(own.token);
      expect((await alice.api('POST', `/v1/endpoint-groups/${groupId}/members`, { endpointId: own.id })).status).toBe(201);
      const ids = [await submit(alice, groupId, ['b1']), await submit(alice, groupId, ['b2'])];
      for (const id of ids) expect((await get(alice, id)).endpointId).toBe(own.id);
      expect(await creditsThenLook(bare, bareEp.id, 10)).toBe('nothing');
      expect(bare.frames.filter((f) => f.type === 'tasks')).toEqual([]);
      ownPeer.send('credits', { credits: 2 });
      expect((await ownPeer.tasks(2)).map((t) => t.taskId).sort()).toEqual([...ids].sort());
      ownPeer.close();
    } finally {
      bare.close();
    }
  });

  it("moves another user's tasks off a member whose agent says, as it connects, that it runs only its owner's, or fails them where no member may run them", async () => {
    const late = await endpoint(mallory, 'mallory-late');
    const own = await endpoint(alice, 'alice-late');
    const g = await alice.api('POST', '/v1/endpoint-groups', { name: 'pool-late', members: [late.id, own.id] });
    expect((await mallory.api('POST', `/v1/endpoint-groups/${g.body.id}/members/${late.id}/accept`)).status).toBeLessThan(300);
    // neither member was ever heard from: her tasks spread over both, waiting there
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push(await submit(alice, g.body.id, [`late-${i}`]));
      await queued(alice, ids[i]!);
    }
    const where = async () => Promise.all(ids.map(async (id) => (await get(alice, id)).endpointId as string));
    expect(await where()).toContain(late.id);
    // its agent runs tasks without bubblewrap and says so in its hello, before any heartbeat
    const helloOwnerOnly = async (token: string) => {
      const p = await ProtocolPeer.connect(server.url, token);
      p.send('hello', {
        protocolVersion: ENDPOINT_PROTOCOL_VERSION,
        agent: { name: 'bare', version: 'test', hostname: 'test', pid: process.pid, platform: process.platform, provider: 'local', workers: 4 },
        inFlight: [],
        ownerOnly: true,
      });
      await p.next('welcome');
      return p;
    };
    const latePeer = await helloOwnerOnly(late.token);
    const ownPeer = await peer(own.token);
    try {
      // by its welcome, every one of her tasks waits on her own member, and the bare agent gets none
      expect(new Set(await where())).toEqual(new Set([own.id]));
      // with credits and nothing queued, it steals none of them either (it has not sent a heartbeat yet)
      expect(await creditsThenLook(latePeer, late.id, 10)).toBe('nothing');
      expect(new Set(await where())).toEqual(new Set([own.id]));
      ownPeer.send('credits', { credits: 6 });
      expect((await ownPeer.tasks(6)).map((t) => t.taskId).sort()).toEqual([...ids].sort());
      // all of them leased to her member: none is left that the bare agent could be sent
      for (const id of ids) expect(await get(alice, id)).toMatchObject({ status: 'dispatched', endpointId: own.id });
      expect(latePeer.frames.filter((f) => f.type === 'tasks')).toEqual([]);
    } finally {
      latePeer.close();
      ownPeer.close();
    }
    // a group whose only member is such an agent: her task, accepted while it was unheard of, fails at once
    const lone = await endpoint(mallory, 'mallory-lone');
    const g2 = await alice.api('POST', '/v1/endpoint-groups', { name: 'pool-lone', members: [lone.id] });
    expect((await mallory.api('POST', `/v1/endpoint-groups/${g2.body.id}/members/${lone.id}/accept`)).status).toBeLessThan(300);
    const task = await submit(alice, g2.body.id, ['lone']);
    await queued(alice, task);
    const lonePeer = await helloOwnerOnly(lone.token);
    try {
      expect(await get(alice, task)).toMatchObject({ status: 'failed', error: { code: 'ISOLATION_REQUIRED' } });
    } finally {
      lonePeer.close();
    }
  });

  it("sends a pickle task only to its owner's own members, which no other member steals, and fills her private cache from those alone", async () => {
    const py = await alice.api('POST', '/v1/functions', {
      name: 'py',
      runtime: 'python',
      source: 'def main(x):\n    return x\n',
      entrypoint: 'main',
      cache: { ttlSeconds: 600 },
    });
    expect(py.status).toBe(201);
    const { ep: memberEp, groupId } = await mallorysMember('mallory-pickle', 'pool-pickle');
    const member = await peer(memberEp.token);
    const pickled = { $fx: 'pickle', python: '3.11', pickler: 'cloudpickle', data: Buffer.from('not read by the server').toString('base64') };
    const pickleTask = () => alice.api('POST', '/v1/tasks', { functionId: py.body.id, endpointId: groupId, serializer: 'pickle', pickledArgs: pickled });
    try {
      // mallory's agent could return any pickle, and alice's SDK would run it when it unpickles
      const refused = await pickleTask();
      expect([refused.status, refused.body.code]).toEqual([403, 'FORBIDDEN']);
      expect(refused.body.message).toMatch(/unpickling runs whatever code/);
      const own = await endpoint(alice, 'alice-pickle');
      const ownPeer = await peer(own.token);
      expect((await alice.api('POST', `/v1/endpoint-groups/${groupId}/members`, { endpointId: own.id })).status).toBe(201);
      const sent = await pickleTask();
      expect(sent.status).toBe(201);
      expect((await get(alice, sent.body.taskId)).endpointId).toBe(own.id);
      expect(await creditsThenLook(member, memberEp.id, 10)).toBe('nothing');
      expect(member.frames.filter((f) => f.type === 'tasks')).toEqual([]);
      ownPeer.send('credits', { credits: 1 });
      expect((await ownPeer.tasks(1))[0]!.taskId).toBe(sent.body.taskId);

      // a JSON task of the memoized function that ran on mallory's member fills no entry of alice's
      const json = async (x: string) => {
        const r = await alice.api('POST', '/v1/tasks', { functionId: py.body.id, endpointId: groupId, args: [x] });
        expect(r.status).toBe(201);
        return r.body.taskId as string;
      };
      const forged = await json('private');
      // fresh credits: the member takes it, from its own queue or (routed to alice's) by stealing it
      member.send('credits', { credits: 1 });
      const [spec] = await member.tasks(1);
      expect(spec!.taskId).toBe(forged);
      member.send('results', { results: [result(forged, 'forged by mallory')] });
      await member.next('ack');
      await finished(alice, forged);
      const again = await get(alice, await json('private'));
      expect(again.cachedFrom ?? null).toBeNull();
      expect(again.status).not.toBe('success');
      ownPeer.close();
    } finally {
      member.close();
    }
  });
});
