import { jest } from '@jest/globals';
import { PeriodicTask } from './periodic-task.js';

/** A body whose runs end only when the test says so. */
function gated() {
  const gates: Array<(n: number) => void> = [];
  let started = 0;
  const body = () => {
    started++;
    return new Promise<number>((resolve) => gates.push(resolve));
  };
  return { body, started: () => started, finish: (n: number) => gates.shift()!(n) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PeriodicTask', () => {
  afterEach(() => jest.restoreAllMocks());

  it('never runs twice at once: a second runOnce resolves undefined at once, join shares the run', async () => {
    const g = gated();
    const task = new PeriodicTask(g.body);
    const first = task.runOnce();
    expect(await task.runOnce()).toBeUndefined();
    const joined = task.join();
    expect(g.started()).toBe(1);
    g.finish(7);
    expect(await first).toBe(7);
    expect(await joined).toBe(7);
    // the run ended: the next one starts
    const next = task.runOnce();
    expect(g.started()).toBe(2);
    g.finish(8);
    expect(await next).toBe(8);
  });

  it('runs another body when idle, and settled() waits for the run under way, whatever its outcome', async () => {
    const task = new PeriodicTask(() => Promise.resolve('own'));
    expect(await task.join(() => Promise.resolve('given'))).toBe('given');
    let fail!: (e: Error) => void;
    const failing = task.join(() => new Promise((_, reject) => (fail = reject)));
    let settled = false;
    const waiting = task.settled().then(() => (settled = true));
    await sleep(5);
    expect(settled).toBe(false);
    fail(new Error('database away'));
    await expect(failing).rejects.toThrow('database away');
    await waiting;
    expect(settled).toBe(true);
  });

  it('ticks on its interval without overlapping a slow run, and swallows a failed run', async () => {
    let runs = 0;
    let inFlight = 0;
    let most = 0;
    const task = new PeriodicTask(async () => {
      runs++;
      most = Math.max(most, ++inFlight);
      await sleep(25);
      inFlight--;
      if (runs === 1) throw new Error('first run fails');
    });
    task.start(5);
    await sleep(120);
    task.stop();
    await task.settled();
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(most).toBe(1);
  });

  it('does not keep the process alive, and stop() ends the ticks', async () => {
    const setIntervalSpy = jest.spyOn(global, 'setInterval');
    let runs = 0;
    const task = new PeriodicTask(async () => void runs++);
    task.start(5);
    const timer = setIntervalSpy.mock.results[0]!.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    await sleep(30);
    task.stop();
    const seen = runs;
    expect(seen).toBeGreaterThan(0);
    await sleep(30);
    expect(runs).toBe(seen);
  });

  it('does nothing on a tick that skip() passes over; runOnce is never skipped', async () => {
    jest.useFakeTimers();
    try {
      let runs = 0;
      let skipping = true;
      const task = new PeriodicTask(async () => void runs++);
      task.start(10, () => skipping);
      await jest.advanceTimersByTimeAsync(50);
      expect(runs).toBe(0);
      await task.runOnce();
      expect(runs).toBe(1);
      skipping = false;
      await jest.advanceTimersByTimeAsync(30);
      expect(runs).toBe(4);
      task.stop();
    } finally {
      jest.useRealTimers();
    }
  });
});
