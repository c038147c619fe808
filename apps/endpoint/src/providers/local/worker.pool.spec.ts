import { functionContentHash } from '../../runtimes/content-hash.js';
import { TaskCancelledError, WalltimeExceededError, type ExecutionOutcome } from '../../runtimes/task.errors.js';
import { ensureEndpointBuilt } from '../../testing/worker-build.js';
import { WorkerPool, WorkerStartError } from './worker.pool.js';

const js = (source: string, args: unknown[] = []) => ({ source, contentHash: functionContentHash('js', source), args, kwargs: {}, maxResultBytes: 1024 * 1024 });
const noAbort = () => new AbortController().signal;
let seq = 0;
const id = () => `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`;

describe('WorkerPool', () => {
  let pool: WorkerPool;
  const { workerScript } = ensureEndpointBuilt();

  beforeEach(async () => {
    pool = new WorkerPool({ size: 2, workerScript });
    await pool.start();
  });
  afterEach(async () => {
    await pool.stop();
  });

  it('runs tasks in worker processes and reports which worker ran them', async () => {
    const outcome = await pool.run(id(), js('() => process.pid'), noAbort());
    expect(outcome.status).toBe('success');
    expect(pool.pids()).toContain((outcome as { result: number }).result);
    expect(outcome.workerId).toMatch(/^w[01]-\d+$/);
    expect(pool.counts()).toEqual({ total: 2, busy: 0, idle: 2 });
  });

  it('carries the remote stack back from a throw', async () => {
    const outcome = await pool.run(id(), js('function explode() { throw new RangeError("out of range"); }'), noAbort());
    expect(outcome).toMatchObject({ status: 'failed', error: { code: 'TASK_ERROR', name: 'RangeError', message: 'out of range' } });
    expect((outcome as { error: { stack: string } }).error.stack).toMatch(/at explode \(fx-function-[0-9a-f]{12}\.js/);
  });

  it('fails only the crashed task with WORKER_LOST and replaces the worker', async () => {
    const before = pool.pids();
    const [crash, fine] = await Promise.all([pool.run(id(), js('() => process.exit(7)'), noAbort()), pool.run(id(), js('async () => { await new Promise((r) => setTimeout(r, 200)); return "ok"; }'), noAbort())]);
    expect(crash).toMatchObject({ status: 'failed', error: { code: 'WORKER_LOST', name: 'WorkerLost', message: expect.stringContaining('exited with code 7') } });
    expect(fine).toMatchObject({ status: 'success', result: 'ok' });
    const segv = await pool.run(id(), js('() => process.kill(process.pid, "SIGSEGV")'), noAbort());
    expect(segv).toMatchObject({ status: 'failed', error: { code: 'WORKER_LOST', message: expect.stringContaining('SIGSEGV') } });
    // The pool is whole again: two tasks at once still run on two live workers.
    const after = await Promise.all([pool.run(id(), js('() => process.pid'), noAbort()), pool.run(id(), js('() => process.pid'), noAbort())]);
    expect(after.every((o: ExecutionOutcome) => o.status === 'success')).toBe(true);
    expect(pool.pids()).toHaveLength(2);
    expect(pool.pids()).not.toEqual(before);
  });

  it('kills a worker stuck in synchronous code at walltime and at cancel, and recovers', async () => {
    const walltime = new AbortController();
    setTimeout(() => walltime.abort(new WalltimeExceededError(0.2)), 200);
    expect(await pool.run(id(), js('() => { for (;;) {} }'), walltime.signal)).toMatchObject({ status: 'failed', error: { code: 'WALLTIME_EXCEEDED' } });
    const cancel = new AbortController();
    setTimeout(() => cancel.abort(new TaskCancelledError()), 200);
    expect(await pool.run(id(), js('() => { for (;;) {} }'), cancel.signal)).toMatchObject({ status: 'failed', error: { code: 'TASK_CANCELLED' } });
    expect(await pool.run(id(), js('(a) => a * 2', [21]), noAbort())).toMatchObject({ status: 'success', result: 42 });
  });

  it('makes a task wait for a worker when all are busy', async () => {
    const slow = js('async () => { await new Promise((r) => setTimeout(r, 100)); return process.pid; }');
    const outcomes = await Promise.all([1, 2, 3].map(() => pool.run(id(), slow, noAbort())));
    expect(outcomes.map((o) => o.status)).toEqual(['success', 'success', 'success']);
  });
});

describe('WorkerPool start', () => {
  it('refuses a worker entry that does not exist, with a sentence', async () => {
    const pool = new WorkerPool({ size: 1, workerScript: '/nonexistent/worker.js' });
    await expect(pool.start()).rejects.toThrow(WorkerStartError);
    await expect(pool.start()).rejects.toThrow(/does not exist; build fx-endpoint first/);
  });
});
