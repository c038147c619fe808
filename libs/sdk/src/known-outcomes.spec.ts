import type { TaskOutcome } from '@fx/protocol';
import { KnownOutcomes } from './known-outcomes.js';

const outcome = (n: number): TaskOutcome => ({ taskId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, status: 'success', result: n, cached: true });

describe('KnownOutcomes', () => {
  it("keeps a batch answer's outcomes apart from the LRU until their first wait, which moves them there", () => {
    const known = new KnownOutcomes(2);
    for (let i = 0; i < 5; i++) known.keep(outcome(i));
    // five kept although the LRU holds two: a batch of hits does not wait on the LRU's size
    for (let i = 0; i < 5; i++) expect(known.has(outcome(i).taskId)).toBe(true);
    expect(known.get(outcome(0).taskId)).toEqual(outcome(0));
    expect(known.get(outcome(0).taskId)).toEqual(outcome(0));
    expect(known.get(outcome(1).taskId)?.result).toBe(1);
    expect(known.get(outcome(2).taskId)?.result).toBe(2);
    // taken ones live in the LRU now, which evicted the oldest
    expect(known.has(outcome(0).taskId)).toBe(false);
    expect(known.get(outcome(3).taskId)?.result).toBe(3);
  });

  it('drops the oldest kept outcome past its bound (a wait on it subscribes), and keeps nothing delivered without an LRU', () => {
    const known = new KnownOutcomes(0, 3);
    for (let i = 0; i < 4; i++) known.keep(outcome(i));
    expect(known.has(outcome(0).taskId)).toBe(false);
    expect(known.get(outcome(3).taskId)?.result).toBe(3);
    expect(known.has(outcome(3).taskId)).toBe(false);
    known.remember(outcome(9));
    expect(known.has(outcome(9).taskId)).toBe(false);
    known.clear();
    expect(known.has(outcome(1).taskId)).toBe(false);
  });
});
