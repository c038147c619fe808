import { randomUUID } from 'node:crypto';
import { toOutcome } from '../events/events.service.js';
import type { OutcomeRow } from './tasks.repository.js';
import { visibleCachedFrom } from './cached-source.js';

/**
 * `cachedFrom` names the task a memoized task completed from, which a shareable cache may have taken
 * from another user: the id is shown only to whom may read that task (its owner, or an admin).
 */
describe('who sees cachedFrom', () => {
  const [alice, bob, source] = [randomUUID(), randomUUID(), randomUUID()];
  const fromAlice = { cached_from: source, cached_from_owner: alice };

  it('shows the source to its owner and to admins, and to nobody else or when it is gone (purged) or unknown', () => {
    expect(visibleCachedFrom(fromAlice, { userId: alice, admin: false })).toBe(source);
    expect(visibleCachedFrom(fromAlice, { userId: randomUUID(), admin: true })).toBe(source);
    expect(visibleCachedFrom(fromAlice, { userId: bob, admin: false })).toBeNull();
    expect(visibleCachedFrom({ cached_from: source, cached_from_owner: null }, { userId: alice, admin: true })).toBeNull();
    // a statement that did not return the owner shows no id
    expect(visibleCachedFrom({ cached_from: source }, { userId: alice, admin: false })).toBeNull();
    expect(visibleCachedFrom({ cached_from: null, cached_from_owner: null }, { userId: alice, admin: true })).toBeNull();
  });

  it("keeps cached: true in an outcome whose source is another user's, without the id; by default as the task's owner sees it", () => {
    const row = (owner: string): OutcomeRow => ({
      id: randomUUID(),
      owner_id: owner,
      status: 'success',
      result: 1,
      error: null,
      output: null,
      completed_at: new Date(),
      ...fromAlice,
    });
    const bobs = toOutcome(row(bob));
    expect(bobs).toMatchObject({ cached: true });
    expect(bobs).not.toHaveProperty('cachedFrom');
    expect(toOutcome(row(bob), { userId: randomUUID(), admin: true })).toMatchObject({ cached: true, cachedFrom: source });
    expect(toOutcome(row(alice))).toMatchObject({ cached: true, cachedFrom: source });
    expect(toOutcome({ ...row(bob), cached_from: null, cached_from_owner: null })).not.toHaveProperty('cached');
  });
});
