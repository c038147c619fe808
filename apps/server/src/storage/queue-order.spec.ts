import { FairClock, RANK_SPAN, ScoredHeap, levelOf, type Scored } from './queue-order.js';

/** A queue as the in-process broker keeps one: scores from the clock, claims off the heap. */
function queue() {
  const clock = new FairClock();
  const heap = new ScoredHeap<Scored & { owner: string; priority: number }>();
  let n = 0;
  return {
    add(owner: string, count: number, priority = 5): void {
      for (let i = 0; i < count; i++) heap.push({ taskId: `${owner}-${String(n++).padStart(7, '0')}`, score: clock.score(priority, owner), owner, priority });
    },
    claim(max: number) {
      const out: Array<{ owner: string; priority: number; taskId: string }> = [];
      while (out.length < max) {
        const e = heap.pop();
        if (!e) break;
        clock.claimed(e.score);
        out.push(e);
      }
      return out;
    },
    get size() {
      return heap.size;
    },
  };
}

describe('queue order', () => {
  it('maps priority 9 to the first level and clamps what is out of range', () => {
    expect([9, 5, 0, 12, -3].map(levelOf)).toEqual([0, 4, 9, 0, 9]);
  });

  it('takes higher priorities first and keeps enqueue order within one owner and priority', () => {
    const q = queue();
    q.add('a', 3, 1);
    q.add('a', 2, 7);
    q.add('a', 2, 1);
    expect(q.claim(100).map((t) => `${t.priority}:${t.taskId}`)).toEqual([
      '7:a-0000003',
      '7:a-0000004',
      '1:a-0000000',
      '1:a-0000001',
      '1:a-0000002',
      '1:a-0000005',
      '1:a-0000006',
    ]);
  });

  it("does not let one user's 100,000-task batch starve another user's single task", () => {
    const q = queue();
    q.add('alice', 100_000);
    expect(q.claim(256).every((t) => t.owner === 'alice')).toBe(true);
    q.add('bob', 1);
    const next = q.claim(256);
    expect(next.findIndex((t) => t.owner === 'bob')).toBeLessThan(2);
    expect(q.size).toBe(100_000 - 511);
  });

  it('shares claims one for one between owners with work queued, and lets a newcomer in at once', () => {
    const q = queue();
    q.add('alice', 1_000);
    q.add('bob', 1_000);
    const first = q.claim(100);
    expect(first.filter((t) => t.owner === 'alice')).toHaveLength(50);
    q.add('carol', 10);
    const second = q.claim(30);
    expect(second.filter((t) => t.owner === 'carol')).toHaveLength(10);
    expect(second.filter((t) => t.owner === 'alice')).toHaveLength(10);
  });

  it('gives an owner who was idle no credit for the time it was idle', () => {
    const q = queue();
    q.add('alice', 500);
    q.add('bob', 1);
    q.claim(400);
    // bob's earlier task went long ago; his next 100 share the queue with alice's rest, not jump it
    q.add('bob', 100);
    const next = q.claim(100);
    expect(next.filter((t) => t.owner === 'bob').length).toBeGreaterThanOrEqual(49);
    expect(next.filter((t) => t.owner === 'alice').length).toBeGreaterThanOrEqual(49);
  });

  it('keeps a level below the next one whatever the rank', () => {
    const clock = new FairClock();
    for (let i = 0; i < 1000; i++) clock.claimed(9 * RANK_SPAN + 10 ** 12 + i);
    expect(clock.score(0, 'x')).toBe(9 * RANK_SPAN + 10 ** 12 + 1000);
    expect(clock.score(1, 'x')).toBeLessThan(9 * RANK_SPAN);
  });

  it('heap pops in score order, ties by id', () => {
    const heap = new ScoredHeap<Scored>();
    const items = Array.from({ length: 500 }, (_, i) => ({ taskId: `t${(i * 7919) % 500}`, score: (i * 31) % 17 }));
    for (const it of items) heap.push(it);
    const out: Scored[] = [];
    for (let e = heap.pop(); e; e = heap.pop()) out.push(e);
    const sorted = [...items].sort((a, b) => a.score - b.score || (a.taskId < b.taskId ? -1 : 1));
    expect(out).toEqual(sorted);
  });
});
