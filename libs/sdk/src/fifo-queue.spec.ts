import { FifoQueue } from './fifo-queue.js';

/** The queue FollowQueue and streamResults hold what their consumer has not taken yet in. */
describe('FifoQueue', () => {
  it('gives its items back in order, across the cuts of its taken slots, whatever the mix of pushes and takes', () => {
    const q = new FifoQueue<number>();
    const taken: number[] = [];
    let next = 0;
    // rounds of 3 pushes and 2 takes, then a drain: its head passes 1024 many times, with items left behind it
    for (let round = 0; round < 5000; round++) {
      for (let i = 0; i < 3; i++) q.push(next++);
      for (let i = 0; i < 2; i++) taken.push(q.shift()!);
      expect(q.length).toBe(next - taken.length);
      expect(q.peek()).toBe(taken.length);
    }
    while (q.length > 0) taken.push(q.shift()!);
    expect(taken).toEqual(Array.from({ length: next }, (_, i) => i));
    expect(q.shift()).toBeUndefined();
    expect(q.peek()).toBeUndefined();
  });

  it('holds no taken item: a take clears its slot, and the taken slots go once they are half the array', () => {
    const q = new FifoQueue<{ n: number }>();
    for (let n = 0; n < 3000; n++) q.push({ n });
    for (let n = 0; n < 2000; n++) q.shift();
    const slots = (q as unknown as { items: Array<{ n: number } | undefined> }).items;
    expect(slots.length).toBeLessThan(2000);
    expect(slots.filter((s) => s === undefined)).toHaveLength(slots.length - q.length);
    expect(q.peek()).toEqual({ n: 2000 });
  });

  it('keeps an item that is itself falsy', () => {
    const q = new FifoQueue<number>();
    q.push(0);
    expect(q.length).toBe(1);
    expect(q.shift()).toBe(0);
    expect(q.length).toBe(0);
  });
});
