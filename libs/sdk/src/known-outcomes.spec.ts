import type { TaskOutcome } from '@fx/protocol';
import { KNOWN_OUTCOME_BYTES, KnownOutcomes, estimateSize } from './known-outcomes.js';

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

  it('keeps delivered outcomes within a byte budget, oldest out first, and never one past the size of one', () => {
    const MIB = 1024 * 1024;
    const big = (n: number, bytes: number): TaskOutcome => ({ ...outcome(n), result: 'x'.repeat(bytes) });
    const known = new KnownOutcomes(1_000);
    // 1,000 delivered 10 MiB results would have been 10 GiB: none is kept
    for (let i = 0; i < 20; i++) expect(known.remember(big(i, 10 * MIB)).result).toHaveLength(10 * MIB);
    for (let i = 0; i < 20; i++) expect(known.has(outcome(i).taskId)).toBe(false);
    // 900 KiB each: at most 64 MiB of them, the newest
    for (let i = 0; i < 100; i++) known.remember(big(i, 900 * 1024));
    const kept = Array.from({ length: 100 }, (_, i) => known.has(outcome(i).taskId));
    const count = kept.filter(Boolean).length;
    expect(count * 900 * 1024).toBeLessThanOrEqual(KNOWN_OUTCOME_BYTES.cache);
    expect((count + 1) * (900 * 1024 + 1024)).toBeGreaterThan(KNOWN_OUTCOME_BYTES.cache);
    expect(kept.indexOf(true)).toBe(100 - count);
    // small ones still count by number
    const small = new KnownOutcomes(2);
    for (let i = 0; i < 3; i++) small.remember(outcome(i));
    expect([0, 1, 2].map((i) => small.has(outcome(i).taskId))).toEqual([false, true, true]);
  });

  it("bounds a batch answer's outcomes by bytes too; one dropped is fetched again by its wait", () => {
    const sized = (n: number): TaskOutcome => ({ ...outcome(n), result: 'y'.repeat(100) });
    const one = estimateSize(sized(0), 10_000);
    // room for two kept, and a delivered one just past `each`
    const known = new KnownOutcomes(10, 100, { cache: 10 * one, each: one - 1, inline: 2 * one + 1 });
    for (let i = 0; i < 3; i++) known.keep(sized(i));
    expect([0, 1, 2].map((i) => known.has(outcome(i).taskId))).toEqual([false, true, true]);
    // taken by its wait, it is handed over, and past `each` not kept after
    expect(known.get(outcome(1).taskId)?.result).toHaveLength(100);
    expect(known.has(outcome(1).taskId)).toBe(false);
  });

  it('sizes a value about as its JSON, and stops walking past the cap', () => {
    const value = { a: 'hello', list: [1, 2, 3], nested: { b: null, c: ['xy'] } };
    const json = JSON.stringify(value).length;
    expect(estimateSize(value, 10_000)).toBeGreaterThanOrEqual(json * 0.8);
    expect(estimateSize(value, 10_000)).toBeLessThanOrEqual(json * 2);
    // ten million numbers: the walk stops at the cap (about a byte an item at least) instead of visiting them all
    let visited = 0;
    const huge = new Proxy(new Array<number>(10_000_000).fill(7), {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) visited++;
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    expect(estimateSize({ result: huge }, 1024 * 1024)).toBeGreaterThan(1024 * 1024);
    expect(visited).toBeGreaterThan(0);
    expect(visited).toBeLessThanOrEqual(1024 * 1024 + 1);
  });
});
