import type { TaskAttempt } from '@fx/protocol';
import { describeUsage } from './attempt-usage.js';
import { attemptLines } from './retry.options.js';

const attempt = (over: Partial<TaskAttempt> = {}): TaskAttempt => ({
  number: 1,
  status: 'success',
  speculative: false,
  endpointId: '00000000-0000-4000-8000-000000000001',
  connectionId: null,
  workerId: 'w0-12',
  blockId: null,
  queuedAt: null,
  dispatchedAt: null,
  startedAt: null,
  endedAt: null,
  error: null,
  retryAt: null,
  usage: null,
  ...over,
});

describe('what an attempt used, as `fx task` shows it', () => {
  it('says wall time, cores, GPUs, CPU time and peak memory, and what was not measured', () => {
    expect(describeUsage({ wallMs: 1_250, cores: 1, gpus: 0, cpuMs: 1_100, maxRssBytes: 54_843_392 })).toBe(
      'wall 1.25 s, 1 core, 0 GPUs, CPU 1.10 s, peak memory 52.3 MiB',
    );
    expect(describeUsage({ wallMs: 125_000, cores: 4, gpus: 1, cpuMs: null, maxRssBytes: null, blockId: 'b1' })).toBe(
      'wall 2m05s, 4 cores, 1 GPU, CPU not measured, peak memory not measured',
    );
    expect(describeUsage({ wallMs: 7, cores: 1, gpus: 2, cpuMs: 3, maxRssBytes: 512 })).toBe('wall 7 ms, 1 core, 2 GPUs, CPU 3 ms, peak memory 512 B');
  });

  it('adds a line under each attempt that has usage, and none under one without', () => {
    const lines = attemptLines([
      attempt({ number: 1, status: 'lost' }),
      attempt({ number: 2, usage: { wallMs: 12, cores: 1, gpus: 0, cpuMs: 10, maxRssBytes: 2048 } }),
    ]);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^ {2}#1 lost/);
    expect(lines[1]).toMatch(/^ {2}#2 success/);
    expect(lines[2]).toBe('     used: wall 12 ms, 1 core, 0 GPUs, CPU 10 ms, peak memory 2.0 KiB');
  });
});
