import { functionContentHash } from '@fx/protocol/node';
import { TaskCancelledError, WalltimeExceededError } from '../task.errors.js';
import { JsRuntime, evaluateFunction } from './js.runtime.js';

const invocation = (source: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}, maxResultBytes?: number) => ({
  source,
  contentHash: functionContentHash('js', source),
  args,
  kwargs,
  ...(maxResultBytes === undefined ? {} : { maxResultBytes }),
});

describe('JsRuntime', () => {
  const runtime = new JsRuntime();

  it.each([
    ['an arrow function', '(a, b) => a + b'],
    ['a function expression', 'function add(a, b) { return a + b; }'],
    ['an async arrow', 'async (a, b) => { await new Promise((r) => setTimeout(r, 1)); return a + b; }'],
    ['a method shorthand', 'add(a, b) { return a + b; }'],
    ['an async method shorthand', 'async add(a, b) { return a + b; }'],
  ])('runs %s', async (_, source) => {
    expect(await runtime.run(invocation(source, [2, 3]))).toEqual({ ok: true, json: '5' });
  });

  it('passes kwargs as a last argument only when there are any', async () => {
    const source = '(...all) => all';
    expect(await runtime.run(invocation(source, [1]))).toEqual({ ok: true, json: '[1]' });
    expect(await runtime.run(invocation(source, [1], { x: 2 }))).toEqual({ ok: true, json: '[1,{"x":2}]' });
  });

  it('turns a missing result into null, and fails a result JSON would change, naming the path (issue 11 item 5)', async () => {
    expect(await runtime.run(invocation('() => undefined'))).toEqual({ ok: true, json: 'null' });
    expect(await runtime.run(invocation('() => ({ a: 1, skipped: undefined })'))).toEqual({ ok: true, json: '{"a":1}' });
    for (const [source, path] of [
      ['() => ({ d: new Date(0) })', 'result.d'],
      ['() => ({ f: () => 1 })', 'result.f'],
      ['() => [1, NaN]', 'result[1]'],
      ['() => new Map()', 'result'],
      ['() => ({ s: new Set([1]) })', 'result.s'],
      ['() => { const o = {}; o.me = o; return o; }', 'result.me'],
    ]) {
      const outcome = await runtime.run(invocation(source!));
      expect(outcome).toMatchObject({ ok: false, error: { code: 'TASK_ERROR', name: 'ResultNotSerializable', message: expect.stringContaining(`${path}: `) } });
    }
  });

  it('reports a throw as TASK_ERROR with the name, message and the stack as the worker saw it', async () => {
    const source = '() => { class Boom extends Error { name = "Boom" }; throw new Boom("it broke"); }';
    const outcome = await runtime.run(invocation(source));
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.error).toMatchObject({ code: 'TASK_ERROR', name: 'Boom', message: 'it broke' });
    expect(outcome.error.stack).toContain('it broke');
    expect(outcome.error.stack).toContain(`fx-function-${functionContentHash('js', source).slice(0, 12)}.js`);
  });

  it('reports a rejected promise and a thrown non-Error too', async () => {
    expect(await runtime.run(invocation('async () => { throw new TypeError("nope"); }'))).toMatchObject({
      ok: false,
      error: { code: 'TASK_ERROR', name: 'TypeError', message: 'nope' },
    });
    expect(await runtime.run(invocation('() => { throw "plain"; }'))).toMatchObject({
      ok: false,
      error: { code: 'TASK_ERROR', name: 'Error', message: 'non-Error value thrown: plain' },
    });
  });

  it('fails a result larger than maxResultBytes with RESULT_TOO_LARGE', async () => {
    const outcome = await runtime.run(invocation('(n) => "x".repeat(n)', [2000], {}, 1000));
    expect(outcome).toMatchObject({ ok: false, error: { code: 'RESULT_TOO_LARGE' } });
    expect(await runtime.run(invocation('(n) => "x".repeat(n)', [10], {}, 1000))).toEqual({ ok: true, json: JSON.stringify('x'.repeat(10)) });
  });

  it('fails a result that is not JSON-serialisable', async () => {
    expect(await runtime.run(invocation('() => 1n'))).toMatchObject({ ok: false, error: { code: 'TASK_ERROR', name: 'ResultNotSerializable' } });
  });

  it('fails a source that is not a function', async () => {
    expect(await runtime.run(invocation('42'))).toMatchObject({ ok: false, error: { name: 'FunctionSourceError' } });
    expect(await runtime.run(invocation('this is not code'))).toMatchObject({ ok: false, error: { name: 'FunctionSourceError' } });
  });

  it('stops waiting when the signal fires, reporting why', async () => {
    const never = '() => new Promise(() => {})';
    const walltime = new AbortController();
    setTimeout(() => walltime.abort(new WalltimeExceededError(0.05)), 50);
    expect(await runtime.run(invocation(never), walltime.signal)).toMatchObject({ ok: false, error: { code: 'WALLTIME_EXCEEDED' } });
    const cancel = new AbortController();
    cancel.abort(new TaskCancelledError());
    expect(await runtime.run(invocation(never), cancel.signal)).toMatchObject({ ok: false, error: { code: 'TASK_CANCELLED' } });
  });

  it('evaluates a source once per content hash', async () => {
    const counting = new JsRuntime();
    const source = '(() => { globalThis.__fxEvaluations = (globalThis.__fxEvaluations ?? 0) + 1; return () => globalThis.__fxEvaluations; })()';
    await counting.run(invocation(source));
    expect(await counting.run(invocation(source))).toEqual({ ok: true, json: '1' });
  });

  it('lets user code import modules dynamically', async () => {
    expect(await runtime.run(invocation('async () => (await import("node:path")).basename("/a/b.txt")'))).toEqual({ ok: true, json: '"b.txt"' });
  });
});

describe('evaluateFunction', () => {
  it('rejects an expression that is not a function', () => {
    expect(() => evaluateFunction('({ a: 1 })', 'x.js')).toThrow(/not a function/);
  });
});
