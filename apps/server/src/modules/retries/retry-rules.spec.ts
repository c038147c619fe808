import { RetryPolicy } from '@fx/protocol';
import { triageFailure, type TriageTask } from './retry-rules.js';

describe('triageFailure', () => {
  const retry = RetryPolicy.parse({ maxAttempts: 3, backoffSeconds: 2, on: ['TASK_ERROR', 'WORKER_LOST'] });
  const held = (over: Partial<TriageTask> = {}): TriageTask => ({
    status: 'running',
    lease_owner: 'conn-1',
    attempt: 0,
    retries: 0,
    retry,
    retried_since: false,
    ...over,
  });

  it('retries the current attempt of a policy code while attempts remain, with the backoff', () => {
    expect(triageFailure(held(), { attempt: 0, code: 'TASK_ERROR' }, 'conn-1')).toEqual({ kind: 'retry', delayMs: 2000 });
    expect(triageFailure(held({ attempt: 4, retries: 1, status: 'dispatched' }), { attempt: 4, code: 'WORKER_LOST' }, 'conn-1')).toEqual({
      kind: 'retry',
      delayMs: 2000,
    });
  });

  it('records the last attempt, a code outside the policy, and a task without a policy as final', () => {
    expect(triageFailure(held({ attempt: 2, retries: 2 }), { attempt: 2, code: 'TASK_ERROR' }, 'conn-1')).toEqual({ kind: 'final' });
    expect(triageFailure(held(), { attempt: 0, code: 'WALLTIME_EXCEEDED' }, 'conn-1')).toEqual({ kind: 'final' });
    expect(triageFailure(held({ retry: null }), { attempt: 0, code: 'TASK_ERROR' }, 'conn-1')).toEqual({ kind: 'final' });
    expect(triageFailure(undefined, { attempt: 0, code: 'TASK_ERROR' }, 'conn-1')).toEqual({ kind: 'final' });
  });

  it('drops a resend of an attempt that was retried already', () => {
    const task = held({ status: 'waiting-for-endpoint', lease_owner: null, attempt: 1, retries: 1, retried_since: true });
    expect(triageFailure(task, { attempt: 0, code: 'TASK_ERROR' }, 'conn-1')).toEqual({ kind: 'drop' });
  });

  it('drops a late failure of an attempt whose lease was lost when the policy would retry it: the task runs again anyway', () => {
    const requeued = held({ status: 'waiting-for-endpoint', lease_owner: null, attempt: 1 });
    expect(triageFailure(requeued, { attempt: 0, code: 'TASK_ERROR' }, 'conn-1')).toEqual({ kind: 'drop' });
    expect(triageFailure(held({ lease_owner: 'conn-2' }), { attempt: 0, code: 'TASK_ERROR' }, 'conn-1')).toEqual({ kind: 'drop' });
    // not retryable: recorded as every result is (first final wins)
    expect(triageFailure(requeued, { attempt: 0, code: 'MEMORY_EXCEEDED' }, 'conn-1')).toEqual({ kind: 'final' });
  });
});
