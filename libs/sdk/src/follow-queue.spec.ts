import { FollowQueue } from './follow-queue.js';

/** An item of `n` bytes, counting the items folded into it (as FollowedLogChunk.dropped does). */
interface Item {
  id: number;
  n: number;
  dropped?: { items: number; bytes: number };
}
const queue = (max: number) =>
  new FollowQueue<Item>(
    max,
    (i) => i.n,
    (d, next) => ({
      ...next,
      dropped: { items: 1 + (d.dropped?.items ?? 0) + (next.dropped?.items ?? 0), bytes: d.n + (d.dropped?.bytes ?? 0) + (next.dropped?.bytes ?? 0) },
    }),
  );
const drain = (q: FollowQueue<Item>) => {
  const out: Item[] = [];
  for (let i = q.shift(); i !== undefined; i = q.shift()) out.push(i);
  return out;
};

describe('FollowQueue (what a live follow holds for a consumer that falls behind)', () => {
  it('keeps everything within its bytes, in order', () => {
    const q = queue(100);
    for (let id = 0; id < 10; id++) q.push({ id, n: 10 });
    expect(drain(q)).toEqual(Array.from({ length: 10 }, (_, id) => ({ id, n: 10 })));
    expect(q.shift()).toBeUndefined();
  });

  it('drops the oldest past its bytes and folds each into the next one, so the first kept says what was dropped before it', () => {
    const q = queue(100);
    for (let id = 0; id < 25; id++) q.push({ id, n: 10 });
    const kept = drain(q);
    expect(kept.map((i) => i.id)).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    expect(kept[0]!.dropped).toEqual({ items: 15, bytes: 150 });
    expect(kept.slice(1).every((i) => i.dropped === undefined)).toBe(true);
  });

  it('says each gap once: a gap after items already taken is its own', () => {
    const q = queue(30);
    for (let id = 0; id < 5; id++) q.push({ id, n: 10 });
    expect(q.shift()).toEqual({ id: 2, n: 10, dropped: { items: 2, bytes: 20 } });
    for (let id = 5; id < 9; id++) q.push({ id, n: 10 });
    expect(drain(q)).toEqual([
      { id: 6, n: 10, dropped: { items: 3, bytes: 30 } },
      { id: 7, n: 10 },
      { id: 8, n: 10 },
    ]);
  });

  it('always keeps the newest item, however large', () => {
    const q = queue(10);
    q.push({ id: 0, n: 5 });
    q.push({ id: 1, n: 50 });
    expect(drain(q)).toEqual([{ id: 1, n: 50, dropped: { items: 1, bytes: 5 } }]);
  });

  it('stays in order past its compaction of taken entries', () => {
    const q = queue(1_000_000);
    let next = 0;
    for (let id = 0; id < 5000; id++) {
      q.push({ id, n: 1 });
      if (id % 3 === 0) expect(q.shift()!.id).toBe(next++);
    }
    for (const item of drain(q)) expect(item.id).toBe(next++);
    expect(next).toBe(5000);
  });
});
