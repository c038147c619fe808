import { FairOrder } from './fair-order.js';

type Item = { id: string; priority?: number; ownerId?: string };

describe('FairOrder', () => {
  const ids = (list: Item[]) => list.map((i) => i.id);

  it('lets another owner’s task through a backlog of one owner, within a priority', () => {
    const order = new FairOrder<Item>();
    const queue: Item[] = [];
    for (let i = 0; i < 5; i++) order.insert(queue, { id: `b${i}`, ownerId: 'bob' });
    order.insert(queue, { id: 'a0', ownerId: 'alice' });
    expect(ids(queue)).toEqual(['b0', 'a0', 'b1', 'b2', 'b3', 'b4']);
  });

  it('starts a late owner after the last task taken, not at the front of what waits', () => {
    const order = new FairOrder<Item>();
    const queue: Item[] = [];
    for (let i = 0; i < 5; i++) order.insert(queue, { id: `b${i}`, ownerId: 'bob' });
    for (let i = 0; i < 3; i++) order.taken(queue.shift()!);
    order.insert(queue, { id: 'a0', ownerId: 'alice' });
    order.insert(queue, { id: 'a1', ownerId: 'alice' });
    expect(ids(queue)).toEqual(['b3', 'a0', 'b4', 'a1']);
  });

  it('keeps priorities first and first come first served for one owner', () => {
    const order = new FairOrder<Item>();
    const queue: Item[] = [];
    order.insert(queue, { id: 'low', priority: 1, ownerId: 'bob' });
    order.insert(queue, { id: 'b0', ownerId: 'bob' });
    order.insert(queue, { id: 'b1', ownerId: 'bob' });
    order.insert(queue, { id: 'high', priority: 9, ownerId: 'alice' });
    order.insert(queue, { id: 'a0', ownerId: 'alice' });
    expect(ids(queue)).toEqual(['high', 'b0', 'a0', 'b1', 'low']);
  });
});
