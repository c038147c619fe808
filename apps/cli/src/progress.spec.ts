import { jest } from '@jest/globals';
import type { CliContext } from './cli.context.js';
import { ProgressReporter, formatDuration, formatProgressBar, formatProgressLine } from './progress.js';

describe('progress lines', () => {
  it('say done/total, percentage, failed, rate and ETA', () => {
    expect(formatProgressLine({ done: 30, failed: 1, total: 50 }, 2_000)).toBe('30/50 done (60%), 1 failed, 15.0 tasks/s, ETA 1s');
    expect(formatProgressLine({ done: 3000, failed: 0, total: 10_000 }, 10_000)).toBe('3000/10000 done (30%), 0 failed, 300 tasks/s, ETA 23s');
  });

  it('have no rate or ETA before the first result', () => {
    expect(formatProgressLine({ done: 0, failed: 0, total: 50 }, 1_000)).toBe('0/50 done (0%), 0 failed, - tasks/s, ETA -');
  });

  it('say how long it took at the end', () => {
    expect(formatProgressLine({ done: 50, failed: 2, total: 50 }, 125_000, true)).toBe('50/50 done (100%), 2 failed, 0.4 tasks/s, took 2m05s');
  });

  it('draw a bar that fits the terminal, or drop it when there is no room', () => {
    const bar = formatProgressBar({ done: 25, failed: 0, total: 50 }, 5_000, 120);
    expect(bar).toMatch(/^\[#{15}\.{15}\] 25\/50 done \(50%\)/);
    expect(formatProgressBar({ done: 2500, failed: 0, total: 5000 }, 5_000, 120).indexOf(' 2500/')).toBe(bar.indexOf(' 25/'));
    expect(bar.length).toBeLessThanOrEqual(120);
    const narrow = formatProgressBar({ done: 25, failed: 0, total: 50 }, 5_000, 40);
    expect(narrow.startsWith('25/50')).toBe(true);
    expect(narrow.length).toBeLessThan(40);
  });

  it('format durations', () => {
    expect([formatDuration(0), formatDuration(59_400), formatDuration(61_000), formatDuration(7_500_000)]).toEqual(['0s', '59s', '1m01s', '2h05m']);
  });
});

describe('ProgressReporter', () => {
  const setup = (tty: boolean) => {
    let now = 0;
    const err: string[] = [];
    const drawn: string[] = [];
    const context = {
      err: (line: string) => err.push(line),
      now: () => now,
      ...(tty ? { tty: { write: (text: string) => drawn.push(text), columns: 100 } } : {}),
    } as unknown as CliContext;
    return {
      reporter: new ProgressReporter(context, { lineIntervalMs: 2000, redrawIntervalMs: 200 }),
      err,
      drawn,
      advance: (ms: number) => ((now += ms), jest.advanceTimersByTime(ms)),
    };
  };
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('off a terminal writes a plain line every interval and a final one', () => {
    const { reporter, err, advance } = setup(false);
    reporter.start();
    reporter.update({ done: 10, failed: 0, total: 40 });
    advance(2000);
    expect(err).toEqual(['10/40 done (25%), 0 failed, 5.0 tasks/s, ETA 6s']);
    reporter.finish({ done: 40, failed: 1, total: 40 });
    advance(10_000);
    expect(err).toEqual(['10/40 done (25%), 0 failed, 5.0 tasks/s, ETA 6s', '40/40 done (100%), 1 failed, 20.0 tasks/s, took 2s']);
  });

  it('on a terminal redraws a bar in place, then clears it for the final line', () => {
    const { reporter, err, drawn, advance } = setup(true);
    reporter.start();
    reporter.update({ done: 1, failed: 0, total: 2 });
    advance(400);
    expect(drawn).toHaveLength(2);
    expect(drawn[0]).toMatch(/^\r\[#+\.+\] 1\/2 done \(50%\).*\x1b\[K$/);
    expect(err).toEqual([]);
    reporter.finish({ done: 2, failed: 0, total: 2 });
    expect(drawn.at(-1)).toBe('\r\x1b[K');
    expect(err).toEqual(['2/2 done (100%), 0 failed, 5.0 tasks/s, took 0s']);
  });
});
