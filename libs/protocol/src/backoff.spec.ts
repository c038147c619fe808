import { backoffDelay } from './backoff.js';

describe('backoffDelay', () => {
  it('full jitter (the default): uniform below a ceiling that doubles from 250 ms up to 10 s', () => {
    expect(backoffDelay(0, {}, () => 0)).toBe(0);
    expect(backoffDelay(0, {}, () => 0.999)).toBe(249);
    expect(backoffDelay(3, {}, () => 0.5)).toBe(1000);
    expect(backoffDelay(100, {}, () => 0.5)).toBe(5000);
    expect(backoffDelay(2, { initialDelayMs: 100, maxDelayMs: 300 }, () => 0.999)).toBe(299);
  });

  it('equal jitter: between half the ceiling and the ceiling, rounded', () => {
    const equal = { initialDelayMs: 200, maxDelayMs: 5000, jitter: 'equal' } as const;
    expect(backoffDelay(0, equal, () => 0)).toBe(100);
    expect(backoffDelay(0, equal, () => 1)).toBe(200);
    expect(backoffDelay(2, equal, () => 0.5)).toBe(600);
    expect(backoffDelay(50, equal, () => 0)).toBe(2500);
  });

  it('stays finite for any attempt count', () => {
    for (const jitter of ['full', 'equal'] as const) expect(Number.isFinite(backoffDelay(1e9, { jitter }, () => 0.5))).toBe(true);
  });
});
