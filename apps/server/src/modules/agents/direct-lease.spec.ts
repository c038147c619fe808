import { directGrants, type LeaseTarget } from './direct-lease.js';

/**
 * When a submission's tasks are leased in its insert, and when they are queued as before: the decision
 * alone (directGrants), with made-up connections.
 */
const conn = (o: Partial<LeaseTarget> = {}): LeaseTarget & { name?: string } => ({
  open: true,
  dispatching: false,
  credits: 10,
  queueSeq: 3,
  emptyAt: 3,
  ...o,
});
const task = (endpointId: string, o: { inputs?: string[]; cache?: { key: string | null; scope: string; ttlSeconds: number }; group?: string } = {}) => ({
  endpointId,
  inputs: o.inputs ?? [],
  ...(o.cache ? { cache: o.cache } : {}),
  ...(o.group ? { endpointGroupId: o.group } : {}),
});

describe('directGrants', () => {
  it('leases the tasks of an endpoint whose agent is here, open, with credits for them all and an empty queue', () => {
    const a = conn();
    expect(directGrants([task('a'), task('a')], (id) => (id === 'a' ? a : undefined), 100)).toEqual([{ conn: a, indexes: [0, 1] }]);
  });

  it('queues them when the agent is elsewhere or gone, or its socket is closing', () => {
    expect(directGrants([task('a')], () => undefined, 100)).toEqual([]);
    expect(directGrants([task('a')], () => conn({ open: false }), 100)).toEqual([]);
  });

  it('queues them when its queue is not known empty: never claimed yet, or something was queued since the empty claim', () => {
    expect(directGrants([task('a')], () => conn({ queueSeq: 0, emptyAt: -1 }), 100)).toEqual([]);
    expect(directGrants([task('a')], () => conn({ queueSeq: 4, emptyAt: 3 }), 100)).toEqual([]);
  });

  it('queues them while its dispatcher claims (that claim was sized by the credits the insert would take)', () => {
    expect(directGrants([task('a')], () => conn({ dispatching: true }), 100)).toEqual([]);
  });

  it('queues all of an endpoint’s tasks when they are more than its credits or than a frame holds, not a part of them', () => {
    expect(directGrants([task('a'), task('a'), task('a')], () => conn({ credits: 2 }), 100)).toEqual([]);
    expect(directGrants([task('a'), task('a'), task('a')], () => conn({ credits: 0 }), 100)).toEqual([]);
    expect(directGrants([task('a'), task('a'), task('a')], () => conn(), 2)).toEqual([]);
    const exact = conn({ credits: 3 });
    expect(directGrants([task('a'), task('a'), task('a')], () => exact, 3)).toEqual([{ conn: exact, indexes: [0, 1, 2] }]);
  });

  it('never leases a memoized submission’s tasks, nor dependents (they wait for their inputs); the roots of a graph are leased', () => {
    const cache = { key: 'k', scope: 's', ttlSeconds: 60 };
    expect(directGrants([task('a', { cache }), task('a')], () => conn(), 100)).toEqual([]);
    const a = conn();
    expect(directGrants([task('a'), task('a', { inputs: ['x'] }), task('a')], () => a, 100)).toEqual([{ conn: a, indexes: [0, 2] }]);
  });

  it('never leases a task sent to an endpoint group: its member could leave before the insert commits, and only the grant checks', () => {
    const a = conn();
    expect(directGrants([task('a', { group: 'g' })], () => a, 100)).toEqual([]);
    // nor the rest of that endpoint's tasks in the submission, which would overtake it; another endpoint's are
    expect(directGrants([task('a', { group: 'g' }), task('a'), task('b')], () => a, 100)).toEqual([{ conn: a, indexes: [2] }]);
  });

  it('decides endpoint by endpoint', () => {
    const a = conn();
    const b = conn({ credits: 1 });
    const c = conn({ emptyAt: 1 });
    const of = (id: string) => ({ a, b, c })[id];
    expect(directGrants([task('a'), task('b'), task('c'), task('b'), task('a')], of, 100)).toEqual([{ conn: a, indexes: [0, 4] }]);
    expect(directGrants([task('c'), task('b'), task('a')], of, 100)).toEqual([
      { conn: b, indexes: [1] },
      { conn: a, indexes: [2] },
    ]);
  });
});
