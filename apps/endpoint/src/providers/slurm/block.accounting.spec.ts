import { MAX_BLOCK_REPORTS } from '@fx/protocol';
import { BlockClock, BlockLedger, ENDED_REPORT_HEARTBEATS, type AccountedBlock } from './block.accounting.js';

/** busy + idle of a split: always the block's wall time so far. */
const total = (s: { busyMs: number; idleMs: number }) => s.busyMs + s.idleMs;

describe('BlockClock', () => {
  it('splits wall time at each transition into busy (a task running) and idle', () => {
    const clock = new BlockClock(1_000);
    expect(clock.split(1_000)).toEqual({ busyMs: 0, idleMs: 0 });
    clock.set(1, 1_300); // idle 300
    clock.set(2, 1_500); // busy 200
    expect(clock.split(1_600)).toEqual({ busyMs: 300, idleMs: 300 });
    clock.set(0, 2_000); // busy 500 more
    clock.set(1, 2_250); // idle 250 more
    clock.set(0, 2_260); // busy 10 more
    expect(clock.split(3_000)).toEqual({ busyMs: 710, idleMs: 1_290 });
  });

  it('keeps busy + idle = (ended ?? now) − started exactly, through many transitions and after the end', () => {
    const clock = new BlockClock(1_700_000_000_000);
    let t = clock.startedAt;
    // a deterministic pseudo-random walk of loads and gaps
    let seed = 7;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31);
    for (let i = 0; i < 500; i++) {
      t += next() % 97;
      clock.set(next() % 4, t);
      expect(total(clock.split(t + 13))).toBe(t + 13 - clock.startedAt);
    }
    clock.end(t + 5);
    expect(clock.endedAt).toBe(t + 5);
    const final = clock.split(t + 10_000);
    expect(total(final)).toBe(t + 5 - clock.startedAt);
    // an ended clock moves no more
    clock.set(3, t + 20_000);
    clock.end(t + 30_000);
    expect(clock.split(t + 40_000)).toEqual(final);
    expect(clock.endedAt).toBe(t + 5);
  });

  it('counts a clock stepped back as no time, and fractional times as whole milliseconds', () => {
    const clock = new BlockClock(10_000.9);
    expect(clock.startedAt).toBe(10_000);
    clock.set(1, 10_500);
    clock.set(0, 10_400); // earlier than the last transition: counts as 10_500
    expect(clock.split(10_400)).toEqual({ busyMs: 0, idleMs: 500 });
    clock.set(1, 10_600.7);
    clock.end(10_700.2);
    expect(clock.split(20_000)).toEqual({ busyMs: 100, idleMs: 600 });
    expect(clock.endedAt).toBe(10_700);
  });
});

describe('BlockLedger', () => {
  const running = (id: string, startedAt: number, load: Array<[number, number]> = []): AccountedBlock => {
    const clock = new BlockClock(startedAt);
    for (const [n, at] of load) clock.set(n, at);
    return { id, jobId: `j-${id}`, state: 'running', clock };
  };

  it('reports live blocks (pending ones hold no nodes) then ended ones with their final figures', () => {
    const ledger = new BlockLedger(3);
    const pending: AccountedBlock = { id: 'p', state: 'pending' };
    const live = running('r', 1_000, [[1, 1_100]]);
    const done = running('d', 500, [
      [1, 600],
      [0, 800],
    ]);
    done.clock!.end(900);
    ledger.close({ ...done, state: 'ended' }, 5_000);
    const reports = ledger.reports([pending, live], 2_000);
    expect(reports).toEqual([
      { blockId: 'p', state: 'pending', nodes: 0, busyMs: 0, idleMs: 0 },
      { blockId: 'r', jobId: 'j-r', state: 'running', nodes: 3, startedAt: 1_000, busyMs: 900, idleMs: 100 },
      { blockId: 'd', jobId: 'j-d', state: 'ended', nodes: 3, startedAt: 500, endedAt: 900, busyMs: 200, idleMs: 200 },
    ]);
    for (const r of reports.filter((r) => r.startedAt !== undefined)) {
      expect(r.busyMs + r.idleMs).toBe((r.endedAt ?? 2_000) - r.startedAt!);
    }
  });

  it(`reports an ended block in ${ENDED_REPORT_HEARTBEATS} heartbeats, then forgets it`, () => {
    const ledger = new BlockLedger(1);
    const block = running('e', 0);
    block.clock!.end(10);
    ledger.close(block, 10);
    for (let i = 0; i < ENDED_REPORT_HEARTBEATS; i++) expect(ledger.reports([], 100).map((r) => r.blockId)).toEqual(['e']);
    expect(ledger.reports([], 100)).toEqual([]);
  });

  it(`sends at most ${MAX_BLOCK_REPORTS} reports: live blocks first, then the newest ended ones`, () => {
    const ledger = new BlockLedger(1);
    for (let i = 0; i < MAX_BLOCK_REPORTS + 10; i++) {
      const b = running(`e${i}`, i);
      b.clock!.end(i + 1);
      ledger.close(b, i + 1);
    }
    const live = Array.from({ length: 10 }, (_, i) => running(`l${i}`, 0));
    const reports = ledger.reports(live, 100);
    expect(reports).toHaveLength(MAX_BLOCK_REPORTS);
    expect(reports.slice(0, 10).map((r) => r.blockId)).toEqual(live.map((b) => b.id));
    expect(reports[10]!.blockId).toBe(`e${MAX_BLOCK_REPORTS + 9}`);
    expect(reports.at(-1)!.blockId).toBe(`e${MAX_BLOCK_REPORTS + 9 - (MAX_BLOCK_REPORTS - 11)}`);
  });
});
