import { fstatSync, readFileSync } from 'node:fs';
import { functionContentHash } from '@fx/protocol/node';
import { eventually } from '@fx/testing';
import { TaskCancelledError, WalltimeExceededError, discardResultFile, type ExecutionOutcome, type ResultFile } from '../../runtimes/task.errors.js';
import { ensureEndpointBuilt } from '../../testing/worker-build.js';
import { SANDBOX_UID_FIRST } from '../sandbox/sandbox-uids.js';
import { WorkerSandbox } from '../sandbox/worker.sandbox.js';
import { WorkerPool, WorkerStartError } from './worker.pool.js';
import { WorkerOutput } from './worker.output.js';

const js = (source: string, args: unknown[] = []) => ({
  source,
  contentHash: functionContentHash('js', source),
  args,
  kwargs: {},
  maxResultBytes: 1024 * 1024,
});
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

  it("never hands one owner's tasks to a worker that ran another owner's, even to take waiting tasks back", async () => {
    const deep = new WorkerPool({ size: 2, depth: 4, workerScript });
    await deep.start();
    try {
      const pidOf = (o: ExecutionOutcome) => (o as { result: { pid: number } }).result.pid;
      const b = await deep.run(id(), js('() => ({ pid: process.pid })'), noAbort(), undefined, { ownerId: 'bob' });
      const long = deep.run(
        id(),
        js('async () => { await new Promise((r) => setTimeout(r, 1500)); return { pid: process.pid, at: Date.now() }; }'),
        noAbort(),
        undefined,
        { ownerId: 'alice' },
      );
      const quick = [1, 2].map(() => deep.run(id(), js('() => ({ pid: process.pid, at: Date.now() })'), noAbort(), undefined, { ownerId: 'alice' }));
      const [l, ...q] = await Promise.all([long, ...quick]);
      for (const o of [l!, ...q]) expect(o.status).toBe('success');
      // Bob's worker was replaced rather than given Alice's waiting tasks; the fresh one took them back.
      for (const o of q) expect([pidOf(o) === pidOf(b), pidOf(o) === pidOf(l!)]).toEqual([false, false]);
      const again = await deep.run(id(), js('() => ({ pid: process.pid })'), noAbort(), undefined, { ownerId: 'alice' });
      expect([pidOf(l!), pidOf(q[0]!)]).toContain(pidOf(again));
    } finally {
      await deep.stop();
    }
  });

  it('carries the remote stack back from a throw', async () => {
    const outcome = await pool.run(id(), js('function explode() { throw new RangeError("out of range"); }'), noAbort());
    expect(outcome).toMatchObject({ status: 'failed', error: { code: 'TASK_ERROR', name: 'RangeError', message: 'out of range' } });
    expect((outcome as { error: { stack: string } }).error.stack).toMatch(/at explode \(fx-function-[0-9a-f]{12}\.js/);
  });

  it('fails only the crashed task with WORKER_LOST and replaces the worker', async () => {
    const before = pool.pids();
    const [crash, fine] = await Promise.all([
      pool.run(id(), js('() => process.exit(7)'), noAbort()),
      pool.run(id(), js('async () => { await new Promise((r) => setTimeout(r, 200)); return "ok"; }'), noAbort()),
    ]);
    expect(crash).toMatchObject({
      status: 'failed',
      error: { code: 'WORKER_LOST', name: 'WorkerLost', message: expect.stringContaining('exited with code 7') },
    });
    expect(fine).toMatchObject({ status: 'success', result: 'ok' });
    const segv = await pool.run(id(), js('() => process.kill(process.pid, "SIGSEGV")'), noAbort());
    expect(segv).toMatchObject({ status: 'failed', error: { code: 'WORKER_LOST', message: expect.stringContaining('SIGSEGV') } });
    // The pool is whole again: two tasks at once still run on two live workers.
    const after = await Promise.all([pool.run(id(), js('() => process.pid'), noAbort()), pool.run(id(), js('() => process.pid'), noAbort())]);
    expect(after.every((o: ExecutionOutcome) => o.status === 'success')).toBe(true);
    // On a loaded machine the replacement may still be starting while the live worker ran both tasks.
    await eventually(() => pool.pids().length === 2, 10_000, 'the replacement worker ready');
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

  it('ends only the worker whose task writes garbage on its link; the agent and the other tasks go on', async () => {
    // Node's IPC channel threw an unparsable line in the agent, outside any handler: the agent died
    const garbage = await pool.run(id(), js('() => { process.getBuiltinModule("node:fs").writeSync(3, "not json\\n"); return "sent"; }'), noAbort());
    expect(garbage).toMatchObject({ status: 'failed', error: { code: 'WORKER_LOST' } });
    const after = await pool.run(id(), js('() => "still here"'), noAbort());
    expect(after).toMatchObject({ status: 'success', result: 'still here' });
  });

  it('carries a huge error or a huge print of a task as any other, cut, over the link', async () => {
    // the link takes a line of at most a frame's worth: a 40 MB message (and its stack) or one 70 MB
    // write broke it, and the task failed WORKER_LOST where Node's IPC channel had carried them
    const thrown = await pool.run(id(), js('() => { throw new Error("x".repeat(40 * 1024 * 1024)); }'), noAbort());
    expect(thrown).toMatchObject({ status: 'failed', error: { code: 'TASK_ERROR', name: 'Error' } });
    expect((thrown as { error: { message: string } }).error.message.length).toBeLessThan(8 * 1024);
    const printed = await pool.run(id(), js('() => { process.stdout.write("y".repeat(70 * 1024 * 1024)); return "printed"; }'), noAbort());
    expect(printed).toMatchObject({ status: 'success', result: 'printed' });
  }, 60_000);

  it("hands a task pipes of its own for stdout and stderr, never the agent's, and copies what it prints within a budget", async () => {
    const printed: string[] = [];
    const sink = {
      stdout: (c: Buffer | string) => void printed.push(`out:${c.toString()}`),
      stderr: (c: Buffer | string) => void printed.push(`err:${c.toString()}`),
    };
    const small = new WorkerPool({ size: 1, workerScript, output: new WorkerOutput(sink, { shareBytes: 100 }) });
    await small.start();
    try {
      const fds = await small.run(
        id(),
        js(
          '() => { const fs = process.getBuiltinModule("node:fs"); process.stdout.write("x".repeat(300)); return [1, 2].map((fd) => { const s = fs.fstatSync(fd); return [s.dev, s.ino]; }); }',
        ),
        noAbort(),
      );
      expect(fds.status).toBe('success');
      // a task holding the agent's own streams read back the agent's log (endpoint.log) through /proc/self/fd/1
      const own = [1, 2].map((fd) => fstatSync(fd)).map((s) => [s.dev, s.ino]);
      for (const theirs of (fds as { result: number[][] }).result) expect(own).not.toContainEqual(theirs);
      await eventually(() => printed.some((p) => p.includes('more than 100 bytes')), 10_000, 'the budget note');
      expect(printed[0]).toBe(`out:${'x'.repeat(100)}`);
      expect(printed.join('')).not.toContain('x'.repeat(101));
    } finally {
      await small.stop();
    }
  });
});

describe("WorkerPool's output budget, by owner", () => {
  const { workerScript } = ensureEndpointBuilt();

  it("keeps one owner's flood from hiding another owner's line, and copies a dying worker's last line past its owner's share", async () => {
    // the default budget: a flood larger than the whole pool's 8 MiB a minute, which hid every other line of that minute
    const lines: string[] = [];
    let copied = 0;
    const keep = (c: Buffer | string) => {
      copied += c.length;
      if (c.length < 4096) lines.push(c.toString());
    };
    const pool = new WorkerPool({ size: 2, workerScript, output: new WorkerOutput({ stdout: keep, stderr: keep }) });
    await pool.start();
    const said = (text: string) => lines.some((l) => l.includes(text));
    const alice = { ownerId: 'alice/alice' };
    try {
      const flood = await pool.run(id(), js('() => { process.stdout.write("a".repeat(9 * 1024 * 1024)); return "flooded"; }'), noAbort(), undefined, alice);
      expect(flood).toMatchObject({ status: 'success', result: 'flooded' });
      await eventually(() => said('more than'), 10_000, "the line saying that Alice's output is no longer copied");
      const bob = await pool.run(id(), js('() => { console.log("bob was here"); return "said"; }'), noAbort(), undefined, { ownerId: 'bob/bob' });
      expect(bob).toMatchObject({ status: 'success', result: 'said' });
      await eventually(() => said('bob was here'), 10_000, "Bob's line");
      const dying = await pool.run(
        id(),
        js('() => { process.stderr.write("alice: out of ideas, exiting\\n"); process.exit(3); }'),
        noAbort(),
        undefined,
        alice,
      );
      expect(dying).toMatchObject({ status: 'failed', error: { code: 'WORKER_LOST' } });
      await eventually(() => said('alice: out of ideas, exiting'), 10_000, "the dying worker's last line");
      expect(copied).toBeLessThan(2 * 1024 * 1024);
    } finally {
      await pool.stop();
    }
  }, 60_000);
});

describe('WorkerPool under the uid sandbox (a root agent without bubblewrap)', () => {
  const { workerScript } = ensureEndpointBuilt();

  it("runs each worker as a user of its own and takes the result files it writes, as that worker's", async () => {
    const pool = new WorkerPool({ size: 2, workerScript, sandbox: new WorkerSandbox({ kind: 'uid' }) });
    await pool.start();
    try {
      const uidOf = (o: ExecutionOutcome) => (o as { result: number }).result;
      const getuid = js('() => process.getuid()');
      const [mine, theirs] = await Promise.all([
        pool.run(id(), getuid, noAbort(), undefined, { ownerId: 'alice/alice' }),
        pool.run(id(), getuid, noAbort(), undefined, { ownerId: 'alice/bob' }),
      ]);
      expect(uidOf(mine)).toBeGreaterThanOrEqual(SANDBOX_UID_FIRST);
      expect(uidOf(theirs)).toBeGreaterThanOrEqual(SANDBOX_UID_FIRST);
      expect(uidOf(theirs)).not.toBe(uidOf(mine));
      const big = await pool.run(id(), { ...js("() => 'x'.repeat(5000)"), inlineResultBytes: 100, resultToFile: true }, noAbort(), undefined, {
        ownerId: 'alice/alice',
      });
      expect(big).toMatchObject({ status: 'success', resultFile: { size: 5002 } });
      discardResultFile((big as { resultFile?: ResultFile }).resultFile);
    } finally {
      await pool.stop();
    }
  });

  it('ends what a task left running (a detached daemon) when its worker exits', async () => {
    const pool = new WorkerPool({ size: 1, workerScript, sandbox: new WorkerSandbox({ kind: 'uid' }) });
    await pool.start();
    let pid = 0;
    try {
      const daemon = js(
        "() => { const c = process.getBuiltinModule('node:child_process').spawn('sleep', ['300'], { detached: true, stdio: 'ignore' }); c.unref(); return c.pid; }",
      );
      const out = await pool.run(id(), daemon, noAbort(), undefined, { ownerId: 'alice/alice' });
      pid = (out as { result: number }).result;
      expect(running(pid)).toBe(true);
    } finally {
      await pool.stop();
    }
    await eventually(() => !running(pid), 5_000, 'the daemon gone with its worker');
  });
});

/** Whether `pid` runs (a zombie has ended; init has not reaped it yet). */
function running(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

describe('WorkerPool start', () => {
  it('refuses a worker entry that does not exist, with a sentence', async () => {
    const pool = new WorkerPool({ size: 1, workerScript: '/nonexistent/worker.js' });
    await expect(pool.start()).rejects.toThrow(WorkerStartError);
    await expect(pool.start()).rejects.toThrow(/does not exist; build fx-endpoint first/);
  });
});

describe('WorkerPool with depth 2 (a task waiting inside each worker)', () => {
  const { workerScript } = ensureEndpointBuilt();
  let pool: WorkerPool;
  afterEach(async () => {
    await pool.stop();
  });

  const sleepThenTimes = (ms: number) =>
    js(`async () => { const start = Date.now(); await new Promise((r) => setTimeout(r, ${ms})); return { start, end: Date.now(), pid: process.pid }; }`);

  it('runs the waiting task after the running one on the same worker, and reports each start', async () => {
    pool = new WorkerPool({ size: 1, depth: 2, workerScript });
    await pool.start();
    const starts: string[] = [];
    const [a, b] = await Promise.all([
      pool.run('a', sleepThenTimes(150), noAbort(), () => starts.push('a')),
      pool.run('b', js('() => ({ start: Date.now(), pid: process.pid })'), noAbort(), () => starts.push('b')),
    ]);
    expect(starts).toEqual(['a', 'b']);
    const ra = (a as { result: { start: number; end: number; pid: number } }).result;
    const rb = (b as { result: { start: number; pid: number } }).result;
    expect(rb.pid).toBe(ra.pid);
    expect(rb.start).toBeGreaterThanOrEqual(ra.end);
    expect(pool.counts()).toEqual({ total: 1, busy: 0, idle: 1 });
  });

  it('holds a third task in the pool until the worker has room, and counts only running tasks as busy', async () => {
    pool = new WorkerPool({ size: 1, depth: 2, workerScript });
    await pool.start();
    const runs = [
      pool.run(id(), sleepThenTimes(100), noAbort()),
      pool.run(id(), sleepThenTimes(100), noAbort()),
      pool.run(id(), sleepThenTimes(100), noAbort()),
    ];
    expect(pool.counts()).toEqual({ total: 1, busy: 1, idle: 0 });
    const outcomes = await Promise.all(runs);
    const times = outcomes.map((o) => (o as { result: { start: number; end: number } }).result);
    expect(times[1]!.start).toBeGreaterThanOrEqual(times[0]!.end);
    expect(times[2]!.start).toBeGreaterThanOrEqual(times[1]!.end);
  });

  it('starts waiting tasks by priority, in the pool and inside the worker, first come first within one', async () => {
    pool = new WorkerPool({ size: 1, depth: 3, workerScript });
    await pool.start();
    const starts: string[] = [];
    const quick = js('() => Date.now()');
    const run = (name: string, priority: number, invocation = quick) => pool.run(name, invocation, noAbort(), () => starts.push(name), { priority });
    // 'long' runs; low-1 and low-2 wait inside the worker, the rest wait in the pool (depth 3)
    const runs = [run('long', 5, sleepThenTimes(300)), run('low-1', 1), run('low-2', 1), run('mid', 5), run('high', 9), run('low-3', 1)];
    await Promise.all(runs);
    // the pool sends 'high' before 'mid' before 'low-3' as the worker makes room; what already waited
    // in the worker may start first (a quick task ends before the next message arrives)
    expect(starts[0]).toBe('long');
    expect(starts.indexOf('high')).toBeLessThan(starts.indexOf('mid'));
    expect(starts.indexOf('mid')).toBeLessThan(starts.indexOf('low-3'));
    expect(starts.filter((s) => s.startsWith('low'))).toEqual(['low-1', 'low-2', 'low-3']);
  });

  it('runs a more urgent task sent to a busy worker before the ones already waiting in it', async () => {
    pool = new WorkerPool({ size: 1, depth: 8, workerScript });
    await pool.start();
    const starts: string[] = [];
    const quick = js('() => Date.now()');
    const run = (name: string, priority: number, invocation = quick) => pool.run(name, invocation, noAbort(), () => starts.push(name), { priority });
    const runs = [run('long', 5, sleepThenTimes(300)), run('low-1', 0), run('low-2', 0), run('low-3', 0)];
    await new Promise((r) => setTimeout(r, 100));
    runs.push(run('high', 9));
    await Promise.all(runs);
    expect(starts).toEqual(['long', 'high', 'low-1', 'low-2', 'low-3']);
    expect(pool.counts()).toEqual({ total: 1, busy: 0, idle: 1 });
  });

  it('withdraws a waiting task that is cancelled: it never runs and the worker is kept', async () => {
    pool = new WorkerPool({ size: 1, depth: 2, workerScript });
    await pool.start();
    const pid = pool.pids()[0];
    const cancel = new AbortController();
    const started: string[] = [];
    const first = pool.run(id(), sleepThenTimes(300), noAbort());
    const second = pool.run(id(), js('() => { globalThis.ran = true; return "ran"; }'), cancel.signal, () => started.push('second'));
    setTimeout(() => cancel.abort(new TaskCancelledError()), 50);
    const t0 = Date.now();
    expect(await second).toMatchObject({ status: 'failed', error: { code: 'TASK_CANCELLED' } });
    expect(Date.now() - t0).toBeLessThan(250);
    expect(await first).toMatchObject({ status: 'success' });
    expect(await pool.run(id(), js('() => globalThis.ran === true'), noAbort())).toMatchObject({ status: 'success', result: false });
    expect(started).toEqual([]);
    expect(pool.pids()).toEqual([pid]);
  });

  it('moves the task waiting in a worker that dies to a fresh worker instead of failing it', async () => {
    pool = new WorkerPool({ size: 1, depth: 2, workerScript });
    await pool.start();
    const [crash, waiting] = await Promise.all([
      pool.run(id(), js('async () => { await new Promise((r) => setTimeout(r, 100)); process.exit(3); }'), noAbort()),
      pool.run(id(), js('() => process.pid'), noAbort()),
    ]);
    expect(crash).toMatchObject({ status: 'failed', error: { code: 'WORKER_LOST', message: expect.stringContaining('exited with code 3') } });
    expect(waiting).toMatchObject({ status: 'success' });
    expect(pool.pids()).toEqual([(waiting as { result: number }).result]);
  });

  it('lets an idle worker take back the tasks waiting behind a long one (work stealing)', async () => {
    pool = new WorkerPool({ size: 2, depth: 4, workerScript });
    await pool.start();
    const quick = js('() => ({ start: Date.now(), end: Date.now(), pid: process.pid })');
    const runs = [pool.run(id(), sleepThenTimes(800), noAbort()), pool.run(id(), sleepThenTimes(100), noAbort()), quick, quick, quick].map((r) =>
      r instanceof Promise ? r : pool.run(id(), r, noAbort()),
    );
    const times = (await Promise.all(runs)).map((o) => (o as { result: { start: number; end: number; pid: number } }).result);
    const long = times[0]!;
    // c and e were first queued behind the long task; the other worker ran them long before it ended
    for (const t of times.slice(2)) expect(t.start).toBeLessThan(long.end - 300);
    expect(times.slice(2).every((t) => t.pid !== long.pid)).toBe(true);
  });

  it('asks mayStart before a task takes an idle worker, and kick() lets it go', async () => {
    let allow = false;
    pool = new WorkerPool({ size: 2, depth: 2, workerScript, mayStart: () => allow });
    await pool.start();
    let done = false;
    const run = pool.run(id(), js('() => 1'), noAbort()).then((o) => ((done = true), o));
    await new Promise((r) => setTimeout(r, 100));
    expect(done).toBe(false);
    allow = true;
    pool.kick();
    expect(await run).toMatchObject({ status: 'success', result: 1 });
  });
});
