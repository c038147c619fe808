import type { TaskOutcome } from '@fx/protocol';
import { runMapWindow, type MapDriver, type MapWindowOptions } from './map-window.js';

/**
 * A driver over an in-memory "server": submitted items are tasks whose outcome is `item * 10`,
 * delivered after `delayOf(item)` ms (or when released by hand), and which records what it saw.
 */
function fakeDriver(opts: { delayOf?: (item: number) => number; failItem?: number; submitFailsAt?: number } = {}) {
  const log = {
    submits: [] as number[][],
    maxHeld: 0,
    cancelled: 0,
    watching: 0,
  };
  let seq = 0;
  const pending = new Map<string, number>();
  let yielded = 0;
  let submitted = 0;
  const driver: MapDriver<number> & { noteYield(): void } = {
    async submit(items) {
      if (opts.submitFailsAt !== undefined && log.submits.length === opts.submitFailsAt) throw new Error('submit refused');
      await new Promise((r) => setImmediate(r));
      log.submits.push(items);
      submitted += items.length;
      log.maxHeld = Math.max(log.maxHeld, submitted - yielded);
      return items.map((item) => {
        const id = `t${seq++}`;
        pending.set(id, item);
        return id;
      });
    },
    watch(ids, sink) {
      log.watching += ids.length;
      const timers = ids.map((id) =>
        setTimeout(
          () => {
            const item = pending.get(id)!;
            const o: TaskOutcome =
              item === opts.failItem
                ? { taskId: id, status: 'failed', error: { code: 'TASK_ERROR', name: 'Error', message: 'no' } }
                : { taskId: id, status: 'success', result: item * 10 };
            sink.outcome(o);
          },
          opts.delayOf?.(pending.get(id)!) ?? 0,
        ),
      );
      return () => {
        timers.forEach(clearTimeout);
        log.watching -= ids.length;
      };
    },
    async cancelRest() {
      log.cancelled++;
    },
    noteYield() {
      yielded++;
    },
  };
  return { driver, log };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const opts = (o: Partial<MapWindowOptions> = {}): MapWindowOptions => ({ chunkSize: 10, window: 25, ordered: true, lingerMs: 20, ...o });

async function collect(gen: AsyncGenerator<{ index: number; outcome: TaskOutcome }>, note: () => void, stopAfter = Infinity) {
  const got: Array<{ index: number; result: unknown }> = [];
  for await (const o of gen) {
    note();
    got.push({ index: o.index, result: o.outcome.status === 'success' ? o.outcome.result : o.outcome.status });
    if (got.length >= stopAfter) break;
  }
  return got;
}

describe('runMapWindow', () => {
  it('yields in item order even when later tasks finish first, never holding more than the window', async () => {
    const { driver, log } = fakeDriver({ delayOf: (i) => (i % 7 === 0 ? 15 : 1) });
    const got = await collect(runMapWindow(range(200), driver, opts()), () => driver.noteYield());
    expect(got.map((g) => g.index)).toEqual(range(200));
    expect(got.map((g) => g.result)).toEqual(range(200).map((i) => i * 10));
    expect(log.maxHeld).toBeLessThanOrEqual(25);
    expect(log.submits.every((c) => c.length <= 10)).toBe(true);
    expect(log.submits.flat()).toEqual(range(200));
    expect(log.cancelled).toBe(0);
    expect(log.watching).toBe(0);
  });

  it('yields as completed with ordered: false, each item once', async () => {
    const { driver, log } = fakeDriver({ delayOf: (i) => (i < 5 ? 30 : 1) });
    const got = await collect(runMapWindow(range(60), driver, opts({ ordered: false })), () => driver.noteYield());
    expect(got.map((g) => g.index).sort((a, b) => a - b)).toEqual(range(60));
    // the slow first items did not hold the others back
    expect(got.slice(0, 5).map((g) => g.index)).not.toEqual([0, 1, 2, 3, 4]);
    expect(log.maxHeld).toBeLessThanOrEqual(25);
  });

  it('reads a source lazily: an endless generator is consumed only as far as the window allows', async () => {
    let produced = 0;
    function* endless() {
      for (let i = 0; ; i++) {
        produced++;
        yield i;
      }
    }
    const { driver, log } = fakeDriver();
    const got = await collect(runMapWindow(endless(), driver, opts({ window: 20, chunkSize: 5 })), () => driver.noteYield(), 50);
    expect(got.map((g) => g.index)).toEqual(range(50));
    expect(produced).toBeLessThanOrEqual(50 + 20);
    expect(log.maxHeld).toBeLessThanOrEqual(20);
    expect(log.cancelled).toBe(1);
    expect(log.watching).toBe(0);
  });

  it('stops submitting and cancels the rest once the consumer breaks, and closes the source', async () => {
    let closed = false;
    function* source() {
      try {
        yield* range(1000);
      } finally {
        closed = true;
      }
    }
    const { driver, log } = fakeDriver({ delayOf: () => 2 });
    await collect(runMapWindow(source(), driver, opts()), () => driver.noteYield(), 3);
    const submittedAtStop = log.submits.flat().length;
    expect(submittedAtStop).toBeLessThanOrEqual(25 + 3);
    await new Promise((r) => setTimeout(r, 50));
    expect(log.submits.flat().length).toBe(submittedAtStop);
    expect(log.cancelled).toBe(1);
    expect(closed).toBe(true);
  });

  it('takes async sources, sending a partly filled chunk after lingerMs', async () => {
    async function* trickle() {
      for (let i = 0; i < 7; i++) {
        await new Promise((r) => setTimeout(r, i === 3 ? 60 : 1));
        yield i;
      }
    }
    const { driver, log } = fakeDriver();
    const got = await collect(runMapWindow(trickle(), driver, opts({ chunkSize: 100, window: 100 })), () => driver.noteYield());
    expect(got.map((g) => g.result)).toEqual(range(7).map((i) => i * 10));
    // the pause before item 3 outlasted the linger: the first items went before the rest arrived (how
    // many of 0, 1, 2 made it into that chunk depends on the machine's timers; the linger, set at item 0,
    // always ends before the pause does)
    expect(log.submits.length).toBeGreaterThanOrEqual(2);
    const first = log.submits[0]!;
    expect(first.length).toBeGreaterThanOrEqual(1);
    expect(first).toEqual(range(first.length));
    expect(first.length).toBeLessThanOrEqual(3);
  });

  it('ends with the error of a failed submission, after cancelling what was submitted', async () => {
    const { driver, log } = fakeDriver({ submitFailsAt: 2, delayOf: () => 50 });
    await expect(collect(runMapWindow(range(100), driver, opts()), () => driver.noteYield())).rejects.toThrow('submit refused');
    expect(log.cancelled).toBe(1);
  });

  it('ends with the error of a source that throws; an empty source submits nothing', async () => {
    function* broken() {
      yield 1;
      throw new Error('bad source');
    }
    const { driver, log } = fakeDriver();
    await expect(collect(runMapWindow(broken(), driver, opts()), () => driver.noteYield())).rejects.toThrow('bad source');
    const empty = fakeDriver();
    expect(await collect(runMapWindow([], empty.driver, opts()), () => undefined)).toEqual([]);
    expect(empty.log.submits).toEqual([]);
    expect(empty.log.cancelled + log.cancelled).toBe(0);
  });

  it('yields failed outcomes as outcomes, in their place', async () => {
    const { driver } = fakeDriver({ failItem: 2 });
    const got = await collect(runMapWindow(range(4), driver, opts()), () => driver.noteYield());
    expect(got.map((g) => g.result)).toEqual([0, 10, 'failed', 30]);
  });
});
