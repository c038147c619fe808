import { RETRYABLE_CODES, RetryPolicy, blockOfWorker, decideRetry } from './retry.js';

describe('retry policy', () => {
  const policy = RetryPolicy.parse({ maxAttempts: 3, backoffSeconds: 1.5, on: ['TASK_ERROR'] });

  it('retries a code of the policy while attempts remain, after the backoff', () => {
    expect(decideRetry(policy, 0, 'TASK_ERROR')).toEqual({ retry: true, delayMs: 1500 });
    expect(decideRetry(policy, 1, 'TASK_ERROR')).toEqual({ retry: true, delayMs: 1500 });
  });

  it('makes the last attempt final: maxAttempts counts the first one', () => {
    expect(decideRetry(policy, 2, 'TASK_ERROR')).toEqual({ retry: false });
    expect(decideRetry(RetryPolicy.parse({ maxAttempts: 1 }), 0, 'TASK_ERROR')).toEqual({ retry: false });
  });

  it('does not retry a code the policy does not name, nor without a policy', () => {
    expect(decideRetry(policy, 0, 'WORKER_LOST')).toEqual({ retry: false });
    expect(decideRetry(null, 0, 'TASK_ERROR')).toEqual({ retry: false });
    expect(decideRetry(undefined, 0, 'TASK_ERROR')).toEqual({ retry: false });
  });

  it('defaults to no backoff and every retryable code', () => {
    const p = RetryPolicy.parse({ maxAttempts: 2 });
    expect(p).toEqual({ maxAttempts: 2, backoffSeconds: 0, on: [...RETRYABLE_CODES] });
    for (const code of RETRYABLE_CODES) expect(decideRetry(p, 0, code)).toEqual({ retry: true, delayMs: 0 });
  });

  it('refuses codes that cannot be retried, unknown codes, and out-of-bound numbers', () => {
    for (const bad of [
      { maxAttempts: 3, on: ['TASK_CANCELLED'] },
      { maxAttempts: 3, on: ['DEPENDENCY_FAILED'] },
      { maxAttempts: 3, on: ['NO_SUCH_CODE'] },
      { maxAttempts: 3, on: [] },
      { maxAttempts: 0 },
      { maxAttempts: 11 },
      { maxAttempts: 2.5 },
      { maxAttempts: 3, backoffSeconds: -1 },
      { maxAttempts: 3, backoffSeconds: 3601 },
      { maxAttempts: 3, extra: true },
    ]) {
      expect(RetryPolicy.safeParse(bad).success).toBe(false);
    }
    const refused = RetryPolicy.safeParse({ maxAttempts: 3, on: ['TASK_CANCELLED'] });
    expect(JSON.stringify(refused.error?.issues)).toContain('retries only on TASK_ERROR');
  });

  it('reads the block of a Slurm worker id, and nothing else', () => {
    expect(blockOfWorker('b3-a1b2c3/node07/w2')).toBe('b3-a1b2c3');
    expect(blockOfWorker('w1')).toBeNull();
    expect(blockOfWorker(null)).toBeNull();
  });
});
