import type { HeartbeatPayload } from '@fx/protocol';
import { ObjectLocality } from '../objects/object-locality.js';
import { canHold, chooseMembers, holdLimits, stealPlan, type MemberLoad } from './member-choice.js';

const heartbeat = (o: Partial<HeartbeatPayload> & { total?: number } = {}): HeartbeatPayload => ({
  state: 'RUNNING',
  workers: { total: o.total ?? 4, busy: 0, idle: o.total ?? 4 },
  queued: o.queued ?? 0,
  running: o.running ?? 0,
  spooled: 0,
  provider: o.provider ?? 'local',
  ...(o.details ? { details: o.details } : {}),
  ...(o.ownerOnly ? { ownerOnly: o.ownerOnly } : {}),
});

const member = (endpointId: string, o: Partial<MemberLoad> = {}): MemberLoad => ({
  endpointId,
  ownerId: 'alice',
  online: true,
  allowedFunctions: null,
  status: heartbeat(),
  waiting: 0,
  ...o,
});

const none = () => false;
const counts = (ids: Array<{ endpointId: string } | { refused: string }>) =>
  ids.reduce<Record<string, number>>((acc, c) => {
    const k = 'endpointId' in c ? c.endpointId : c.refused;
    acc[k] = (acc[k] ?? 0) + 1;
    return acc;
  }, {});
const tasks = (n: number, extra: object = {}) => Array.from({ length: n }, () => ({ functionId: 'f', ...extra }));

describe('chooseMembers', () => {
  it('spreads a batch over members in proportion to their workers', () => {
    const got = counts(chooseMembers([member('a', { status: heartbeat({ total: 1 }) }), member('b', { status: heartbeat({ total: 3 }) })], tasks(40), none));
    expect(got).toEqual({ a: 10, b: 30 });
  });

  it('counts what waits and runs already: a busy member gets less of the batch', () => {
    const got = counts(chooseMembers([member('a', { waiting: 20 }), member('b')], tasks(20), none));
    // b first takes the 20 that a is ahead by, then they alternate
    expect(got).toEqual({ b: 20 });
    const more = counts(chooseMembers([member('a', { status: heartbeat({ running: 4, queued: 4 }) }), member('b')], tasks(16), none));
    expect(more).toEqual({ a: 4, b: 12 });
  });

  it('sends tasks only to online members while one is online, and to an offline one when none is', () => {
    expect(counts(chooseMembers([member('a', { online: false }), member('b', { waiting: 1000 })], tasks(5), none))).toEqual({ b: 5 });
    expect(Object.keys(counts(chooseMembers([member('a', { online: false }), member('b', { online: false })], tasks(5), none)))).not.toHaveLength(0);
  });

  it('keeps tasks off members that cannot hold their resources', () => {
    const gpu = member('gpu', { status: heartbeat({ details: { devices: [{ index: 0 }] } }), waiting: 50 });
    const cpu = member('cpu');
    expect(counts(chooseMembers([cpu, gpu], tasks(3, { resources: { gpus: 1 } }), none))).toEqual({ gpu: 3 });
    const hpc = member('hpc', { status: heartbeat({ provider: 'slurm' }), waiting: 50 });
    expect(counts(chooseMembers([cpu, hpc], tasks(2, { resources: { nodes: 2 } }), none))).toEqual({ hpc: 2 });
    // nobody fits: the agent has the last word (RESOURCES_UNAVAILABLE), the task still goes somewhere online
    expect(counts(chooseMembers([cpu], tasks(1, { resources: { gpus: 2 } }), none))).toEqual({ cpu: 1 });
  });

  it('prefers a member that already fetched the inputs, unless it is much busier', () => {
    const holds = (ep: string, _owner: string | undefined, sha: string) => ep === 'b' && sha === 'x';
    expect(counts(chooseMembers([member('a'), member('b', { waiting: 3 })], tasks(1, { objects: ['x'] }), holds))).toEqual({ b: 1 });
    expect(counts(chooseMembers([member('a'), member('b', { waiting: 12 })], tasks(1, { objects: ['x'] }), holds))).toEqual({ a: 1 });
  });

  it("counts what a member fetched only for the tasks of the owner it fetched for, as the agent's cache is partitioned", () => {
    const locality = new ObjectLocality();
    locality.noteFetched('b', 'alice', 'x');
    const holds = (ep: string, owner: string | undefined, sha: string) => owner !== undefined && locality.holds(ep, owner, sha);
    const members = [member('a'), member('b', { waiting: 3 })];
    expect(counts(chooseMembers(members, tasks(1, { ownerId: 'alice', objects: ['x'] }), holds))).toEqual({ b: 1 });
    expect(counts(chooseMembers(members, tasks(1, { ownerId: 'bob', objects: ['x'] }), holds))).toEqual({ a: 1 });
  });

  it('honours each member’s allowed functions, and refuses what no member may run', () => {
    const only = member('a', { allowedFunctions: ['g'] });
    expect(counts(chooseMembers([only, member('b', { waiting: 100 })], tasks(2), none))).toEqual({ b: 2 });
    expect(chooseMembers([only], tasks(1), none)).toEqual([{ refused: 'FUNCTION_NOT_ALLOWED' }]);
    expect(chooseMembers([], tasks(1), none)).toEqual([{ refused: 'NO_MEMBERS' }]);
  });

  it("sends another user's tasks only to members that isolate them, and refuses when none does", () => {
    // bob's endpoint runs tasks without bubblewrap: his own only
    const bobs = member('bobs', { ownerId: 'bob', status: heartbeat({ ownerOnly: true }) });
    const carols = member('carols', { ownerId: 'carol', waiting: 1000 });
    expect(counts(chooseMembers([bobs, carols], tasks(3, { ownerId: 'alice' }), none))).toEqual({ carols: 3 });
    expect(counts(chooseMembers([bobs, carols], tasks(3, { ownerId: 'bob' }), none))).toEqual({ bobs: 3 });
    // offline, it is still the place to wait for one that may run them, never bob's
    expect(counts(chooseMembers([bobs, { ...carols, online: false }], tasks(2, { ownerId: 'alice' }), none))).toEqual({ carols: 2 });
    expect(chooseMembers([bobs], tasks(1, { ownerId: 'alice' }), none)).toEqual([{ refused: 'ISOLATION_REQUIRED' }]);
    // what no member allows is said first; a member not heard from yet counts as able (its agent decides)
    expect(chooseMembers([{ ...bobs, allowedFunctions: ['g'] }], tasks(1, { ownerId: 'alice' }), none)).toEqual([{ refused: 'FUNCTION_NOT_ALLOWED' }]);
    expect(counts(chooseMembers([{ ...bobs, status: null }], tasks(1, { ownerId: 'alice' }), none))).toEqual({ bobs: 1 });
    // ...until its agent connects saying so in its hello, before any heartbeat
    const hello = { ...bobs, status: null, ownerOnly: true };
    expect(chooseMembers([hello], tasks(1, { ownerId: 'alice' }), none)).toEqual([{ refused: 'ISOLATION_REQUIRED' }]);
    expect(counts(chooseMembers([hello, carols], tasks(2, { ownerId: 'alice' }), none))).toEqual({ carols: 2 });
    expect(counts(chooseMembers([hello], tasks(1, { ownerId: 'bob' }), none))).toEqual({ bobs: 1 });
  });
});

describe('chooseMembers and pickle tasks', () => {
  it("sends a pickle task only to its owner's own members: no other user's agent may hand it a pickle", () => {
    const bobs = member('bobs', { ownerId: 'bob' });
    const alices = member('alices', { ownerId: 'alice', waiting: 1000 });
    expect(counts(chooseMembers([bobs, alices], tasks(3, { ownerId: 'alice', pickled: true }), none))).toEqual({ alices: 3 });
    // JSON tasks spread as before
    expect(counts(chooseMembers([bobs, alices], tasks(3, { ownerId: 'alice' }), none))).toEqual({ bobs: 3 });
    expect(chooseMembers([bobs], tasks(1, { ownerId: 'alice', pickled: true }), none)).toEqual([{ refused: 'PICKLE_FOREIGN' }]);
    expect(counts(chooseMembers([bobs], tasks(1, { ownerId: 'bob', pickled: true }), none))).toEqual({ bobs: 1 });
  });
});

describe('canHold', () => {
  it('reads GPUs and nodes from the heartbeat, and trusts what it cannot tell', () => {
    expect(canHold(null, { gpus: 8 })).toBe(true);
    expect(canHold(heartbeat(), { cores: 2 })).toBe(true);
    expect(canHold(heartbeat(), { gpus: 1 })).toBe(false);
    expect(canHold(heartbeat({ details: { devices: [{}, {}] } }), { gpus: 1 })).toBe(true);
    expect(canHold(heartbeat({ details: { devices: [{}, {}] } }), { gpus: 2 })).toBe(false);
    expect(canHold(heartbeat({ provider: 'slurm' }), { gpus: 4, nodes: 3 })).toBe(true);
    expect(canHold(heartbeat(), { nodes: 2 })).toBe(false);
  });
});

describe('stealPlan', () => {
  it('takes what waits beyond free workers, largest surplus first, up to the room', () => {
    const members = [
      member('me', { waiting: 0 }),
      member('a', { waiting: 10, status: heartbeat({ total: 4, running: 2 }) }),
      member('b', { waiting: 3, status: heartbeat({ total: 4 }) }),
      member('c', { waiting: 5, online: false }),
    ];
    // a: 10 waiting, 2 workers free → 8; b: 3 waiting, 4 free → none; c: offline → all 5
    expect(stealPlan('me', members, 10)).toEqual([
      { endpointId: 'a', take: 8 },
      { endpointId: 'c', take: 2 },
    ]);
    expect(stealPlan('me', members, 0)).toEqual([]);
    expect(stealPlan('me', [member('me', { waiting: 50 })], 4)).toEqual([]);
  });
});

describe('holdLimits', () => {
  it('says in GPUs and nodes what canHold says', () => {
    for (const status of [null, heartbeat(), heartbeat({ details: { devices: [{ id: 0 }] } }), heartbeat({ provider: 'slurm' })]) {
      const limits = holdLimits(status);
      for (const resources of [{ gpus: 1 }, { gpus: 2 }, { nodes: 2 }, {}]) {
        const fits = !limits || ((resources.gpus ?? 0) <= limits.gpus && (resources.nodes ?? 1) <= limits.nodes);
        expect([status?.provider, resources, fits]).toEqual([status?.provider, resources, canHold(status, resources)]);
      }
    }
  });
});
