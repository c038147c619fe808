import { DEFAULT_TASK_PRIORITY } from '@fx/protocol';
import { insertByPriority, priorityIndex, priorityOf } from './priority-order.js';

type Item = { id: string; priority?: number };
const ids = (list: Item[]) => list.map((i) => i.id).join(' ');

describe('priority order of the agent’s queues', () => {
  it('treats a task without a priority as the protocol default', () => {
    expect(priorityOf({})).toBe(DEFAULT_TASK_PRIORITY);
    expect(priorityOf({ priority: 0 })).toBe(0);
  });

  it('puts higher priorities first and keeps arrival order within one', () => {
    const list: Item[] = [];
    for (const [id, priority] of [
      ['a', 5],
      ['b', 1],
      ['c', 9],
      ['d', 5],
      ['e', undefined],
      ['f', 9],
    ] as const)
      insertByPriority(list, { id, ...(priority !== undefined ? { priority } : {}) }, priorityOf);
    expect(ids(list)).toBe('c f a d e b');
  });

  it('never goes before `from` (a worker’s running task) and goes ahead of its own priority when asked', () => {
    const list: Item[] = [
      { id: 'running', priority: 0 },
      { id: 'x', priority: 7 },
      { id: 'y', priority: 5 },
      { id: 'z', priority: 3 },
    ];
    insertByPriority(list, { id: 'urgent', priority: 9 }, priorityOf, 1);
    insertByPriority(list, { id: 'back', priority: 5 }, priorityOf, 1, true);
    insertByPriority(list, { id: 'late', priority: 5 }, priorityOf, 1);
    expect(ids(list)).toBe('running urgent x back y late z');
    expect(priorityIndex(list, 9, priorityOf, 10)).toBe(list.length);
  });
});
