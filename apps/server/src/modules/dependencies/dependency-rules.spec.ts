import { dependencyFailure, mayHaveDependents, readiness, substituteInputs } from './dependency-rules.js';

const A = 'aaaaaaaa-0000-4000-8000-000000000001';
const B = 'bbbbbbbb-0000-4000-8000-000000000002';
const ref = (taskId: string) => ({ $fx: 'ref', taskId });

describe('readiness', () => {
  it('is ready only when every input succeeded, doomed by any failed, cancelled or missing input', () => {
    expect(
      readiness(
        [A, B],
        new Map([
          [A, 'success'],
          [B, 'success'],
        ] as const),
      ),
    ).toEqual({ kind: 'ready' });
    expect(
      readiness(
        [A, B],
        new Map([
          [A, 'success'],
          [B, 'running'],
        ] as const),
      ),
    ).toEqual({ kind: 'waiting' });
    expect(
      readiness(
        [A, B],
        new Map([
          [A, 'waiting-for-dependencies'],
          [B, 'failed'],
        ] as const),
      ),
    ).toEqual({ kind: 'doomed', input: B });
    expect(
      readiness(
        [A, B],
        new Map([
          [A, 'cancelled'],
          [B, 'success'],
        ] as const),
      ),
    ).toEqual({ kind: 'doomed', input: A });
    expect(readiness([A], new Map())).toEqual({ kind: 'doomed', input: A });
  });
});

describe('dependencyFailure', () => {
  it('names the input and its code, and keeps it as the first failure upstream', () => {
    const out = dependencyFailure({ id: A, status: 'failed', error: { code: 'TASK_ERROR', name: 'RangeError', message: 'x' } });
    expect(out).toEqual({
      status: 'failed',
      error: {
        code: 'DEPENDENCY_FAILED',
        name: 'DependencyFailed',
        message: `input ${A} failed with TASK_ERROR`,
        dependency: { taskId: A, code: 'TASK_ERROR' },
      },
    });
  });

  it('travels transitively: the next level names its own input and still the first failure', () => {
    const first = dependencyFailure({ id: A, status: 'failed', error: { code: 'WALLTIME_EXCEEDED', name: 'Walltime', message: 'x' } });
    const second = dependencyFailure({ id: B, status: first.status, error: first.error });
    expect(second.error.message).toBe(`input ${B} failed with DEPENDENCY_FAILED; the first failure upstream: task ${A} (WALLTIME_EXCEEDED)`);
    expect(second.error.dependency).toEqual({ taskId: A, code: 'WALLTIME_EXCEEDED' });
  });

  it('cancels downstream of a cancelled input, and fails downstream of a purged one', () => {
    const c = dependencyFailure({ id: A, status: 'cancelled', error: { code: 'TASK_CANCELLED', name: 'TaskCancelled', message: 'the task was cancelled' } });
    expect(c.status).toBe('cancelled');
    expect(c.error).toMatchObject({ code: 'DEPENDENCY_FAILED', message: `input ${A} was cancelled (TASK_CANCELLED)` });
    expect(dependencyFailure({ id: A, status: null, error: null })).toMatchObject({
      status: 'failed',
      error: { message: `input ${A} no longer exists (its result was purged)` },
    });
  });
});

describe('substituteInputs', () => {
  const results = new Map<string, unknown>([
    [A, { sum: 3 }],
    [B, null],
  ]);
  it('puts each result where its reference was, at any depth, and unescapes user keys', () => {
    const out = substituteInputs({ args: [ref(A), [ref(B)]], kwargs: { k: { deep: ref(A) }, $$fx: 1 } }, results, 1e6);
    expect(out).toEqual({ ok: true, args: [{ sum: 3 }, [null]], kwargs: { k: { deep: { sum: 3 } }, $fx: 1 } });
  });

  it('says which input is missing, and refuses arguments too large to send', () => {
    const C = 'cccccccc-0000-4000-8000-000000000003';
    expect(substituteInputs({ args: [ref(C)], kwargs: {} }, results, 1e6)).toEqual({ ok: false, missing: C });
    const big = new Map([[A, 'x'.repeat(2000)]]);
    expect(substituteInputs({ args: [ref(A)], kwargs: {} }, big, 1000)).toMatchObject({ ok: false, problem: expect.stringMatching(/at most 1000/) });
  });
});

describe('mayHaveDependents', () => {
  it('skips the lookup only when the statement that ended the task says no edge was recorded to it', () => {
    expect(mayHaveDependents({ has_dependents: false })).toBe(false);
    expect(mayHaveDependents({ has_dependents: true })).toBe(true);
    // a resend, a cancel, a lost lease: statements that do not return it look, as before
    expect(mayHaveDependents({})).toBe(true);
  });
});
