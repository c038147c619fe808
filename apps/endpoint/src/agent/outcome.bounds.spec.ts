import { ERROR_LIMITS, MAX_OUTPUT_CHARS } from '@fx/protocol';
import { boundOutcome } from './outcome.bounds.js';

describe('boundOutcome', () => {
  const limit = 1024;

  it('fails an inline result larger than the limit as JSON RESULT_TOO_LARGE, keeping what the task used and printed', () => {
    const usage = { wallMs: 5, cpuMs: null, maxRssBytes: null };
    const out = boundOutcome({ status: 'success', result: ['é'.repeat(600)], usage, output: { stdout: 'o', stderr: '' } }, limit);
    expect(out).toMatchObject({
      status: 'failed',
      error: { code: 'RESULT_TOO_LARGE', message: expect.stringMatching(/1204 bytes as JSON, more than the 1024/) },
    });
    expect(out).toMatchObject({ usage, output: { stdout: 'o', stderr: '' } });
    // at the limit, and a result stored as an object, are reported as they are
    const at = { status: 'success' as const, result: 'x'.repeat(limit - 2) };
    expect(boundOutcome(at, limit)).toEqual(at);
    const stored = {
      status: 'success' as const,
      result: undefined,
      resultRef: { $fx: 'object' as const, id: 'a', sha256: 'b', size: 1e9, encoding: 'json' as const },
    };
    expect(boundOutcome(stored, limit)).toEqual(stored);
  });

  it("cuts a worker's error to ERROR_LIMITS and its fields, and what it printed to MAX_OUTPUT_CHARS a stream", () => {
    const long = 'x'.repeat(100_000);
    const out = boundOutcome(
      {
        status: 'failed',
        error: { code: 'TASK_ERROR', name: long, message: long, stack: long, junk: long } as never,
        output: { stdout: long.repeat(20), stderr: '' },
      },
      limit,
    );
    if (out.status !== 'failed') throw new Error('not failed');
    expect(Object.keys(out.error).sort()).toEqual(['code', 'message', 'name', 'stack']);
    expect(out.error.name).toMatch(new RegExp(`^x{${ERROR_LIMITS.name}}… \\[truncated \\d+ bytes\\]$`));
    expect(out.error.message.startsWith('x'.repeat(ERROR_LIMITS.message) + '…')).toBe(true);
    expect(out.error.stack!.length).toBeLessThan(ERROR_LIMITS.stack + 64);
    expect([out.output!.stdout.length, out.output!.truncated]).toEqual([MAX_OUTPUT_CHARS, true]);
  });
});
