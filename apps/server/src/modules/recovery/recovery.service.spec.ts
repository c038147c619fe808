import { reclaimEverySweeps } from './recovery.service.js';

describe('how often the recovery sweep looks for stale broker claims', () => {
  it('every quarter of the reclaim age, in whole sweeps: every 3rd 2 s sweep for the default 30 s', () => {
    expect(reclaimEverySweeps(30_000, 2_000)).toBe(3);
    expect(reclaimEverySweeps(60_000, 1_000)).toBe(15);
  });

  it('every sweep when a quarter of the reclaim age is shorter than a sweep (the fault tests: 3 s and 500 ms)', () => {
    expect(reclaimEverySweeps(3_000, 500)).toBe(1);
    expect(reclaimEverySweeps(100, 2_000)).toBe(1);
  });
});
