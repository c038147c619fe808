import { AttemptUsage } from '@fx/protocol';
import { WALL_SLACK_MS, attemptUsage } from './attempt-usage.js';

describe('attemptUsage', () => {
  const measured = { wallMs: 1_200, cpuMs: 900, maxRssBytes: 50_000_000 };
  const ran = { startedAt: 10_000, finishedAt: 11_300 };

  it("takes the worker's measure, and cores and GPUs from the task's request or else its worker", () => {
    const local = attemptUsage({}, { ran, measured });
    expect(local).toEqual({ wallMs: 1_200, cores: 1, gpus: 0, cpuMs: 900, maxRssBytes: 50_000_000 });
    expect(AttemptUsage.parse(local)).toEqual(local);
    expect(attemptUsage({ resources: { cores: 4 } }, { ran, measured, held: { cores: 8, gpus: 1, blockId: 'b1-abc' } })).toEqual({
      wallMs: 1_200,
      cores: 4,
      gpus: 1,
      cpuMs: 900,
      maxRssBytes: 50_000_000,
      blockId: 'b1-abc',
    });
    expect(attemptUsage({ resources: { gpus: 0 } }, { ran, measured, held: { cores: 2, gpus: 1 } })).toMatchObject({ cores: 2, gpus: 0 });
  });

  it("never counts more wall time than the agent saw of the run (plus the channel's slack)", () => {
    const inflated = { ...measured, wallMs: 3_600_000 };
    expect(attemptUsage({}, { ran, measured: inflated })?.wallMs).toBe(1_300 + WALL_SLACK_MS);
  });

  it("counts the agent's view, with no CPU or memory figure, for a run its worker reported nothing of", () => {
    expect(attemptUsage({}, { ran, held: { cores: 1, gpus: 1 } })).toEqual({ wallMs: 1_300, cores: 1, gpus: 1, cpuMs: null, maxRssBytes: null });
  });

  it('gives no usage for a task that never started', () => {
    expect(attemptUsage({ resources: { cores: 2 } }, {})).toBeUndefined();
  });
});
