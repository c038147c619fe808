import { OutputBudget, OutputTail } from './worker-output.budget.js';

const limits = { shareBytes: 100, shares: 3, tails: 2, windowMs: 60_000 };

describe('OutputBudget', () => {
  it("gives each owner a share of its own: one owner's flood leaves another's whole", () => {
    const budget = new OutputBudget(limits);
    expect(budget.take('alice', 250, 0)).toEqual({ kept: 100, spent: 'owner' });
    expect(budget.take('alice', 10, 1)).toEqual({ kept: 0 });
    expect(budget.take('bob', 60, 2)).toEqual({ kept: 60 });
    expect(budget.take('bob', 60, 3)).toEqual({ kept: 40, spent: 'owner' });
  });

  it('tracks at most shares - 1 owners a window; the owners after them share the last share, so the total stays bounded', () => {
    const budget = new OutputBudget(limits);
    let total = 0;
    for (let i = 0; i < 50; i++) total += budget.take(`owner-${i}`, 1000, i).kept;
    expect(total).toBe(limits.shares * limits.shareBytes);
    expect(budget.take('owner-0', 1, 60)).toEqual({ kept: 0 });
    // the shared share said so once, as the last owner's own did
    const late = new OutputBudget(limits);
    late.take('a', 1, 0);
    late.take('b', 1, 0);
    expect(late.take('c', 70, 0)).toEqual({ kept: 70 });
    expect(late.take('d', 70, 0)).toEqual({ kept: 30, spent: 'others' });
    expect((late as unknown as { named: Map<string, unknown> }).named.size).toBe(limits.shares - 1);
  });

  it('gives every share back, and forgets the owners, when a window ends', () => {
    const budget = new OutputBudget(limits);
    budget.take('alice', 100, 1_000);
    budget.take('bob', 100, 1_000);
    budget.take('carol', 100, 1_000);
    expect(budget.take('alice', 1, 60_999)).toEqual({ kept: 0 });
    expect(budget.take('dave', 100, 61_000)).toEqual({ kept: 100, spent: 'owner' });
    expect(budget.take('alice', 1, 61_001)).toEqual({ kept: 1 });
  });

  it("counts dying workers' tails per share, apart from its bytes", () => {
    const budget = new OutputBudget(limits);
    budget.take('alice', 1000, 0);
    expect([budget.takeTail('alice', 1), budget.takeTail('alice', 2), budget.takeTail('alice', 3)]).toEqual([true, true, false]);
    expect(budget.takeTail('bob', 4)).toBe(true);
    expect(budget.takeTail('alice', 60_000)).toBe(true);
  });

  it('with one share, is the single pool-wide budget it used to be', () => {
    const budget = new OutputBudget({ ...limits, shares: 1 });
    expect(budget.take('alice', 100, 0)).toEqual({ kept: 100, spent: 'others' });
    expect(budget.take('bob', 1, 0)).toEqual({ kept: 0 });
    expect(() => new OutputBudget({ ...limits, shares: 0 })).toThrow(RangeError);
  });
});

describe('OutputTail', () => {
  const text = (tail: OutputTail) => tail.take().map((p) => `${p.name}:${p.bytes.toString()}`);

  it('keeps the last maxBytes, in order, with their streams', () => {
    const tail = new OutputTail(8);
    tail.add('stdout', Buffer.from('0123456789'));
    expect(tail.bytes).toBe(8);
    tail.add('stderr', Buffer.from('ab'));
    tail.add('stdout', Buffer.from('c'));
    expect(text(tail)).toEqual(['stdout:56789', 'stderr:ab', 'stdout:c']);
    expect(tail.bytes).toBe(0);
  });

  it('copies what it keeps, and forgets it when cleared', () => {
    const chunk = Buffer.from('hello');
    const tail = new OutputTail(4);
    tail.add('stdout', chunk);
    chunk.fill(0x21);
    expect(text(tail)).toEqual(['stdout:ello']);
    tail.add('stdout', Buffer.from('x'));
    tail.clear();
    expect(tail.take()).toEqual([]);
  });
});
