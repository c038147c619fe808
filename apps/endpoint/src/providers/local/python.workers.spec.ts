import { chmod, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { functionContentHash } from '@fx/protocol/node';
import { eventually, tempDir } from '@fx/testing';
import { SANDBOX_UID_FIRST } from '../sandbox/sandbox-uids.js';
import { WorkerSandbox } from '../sandbox/worker.sandbox.js';
import type { PythonInvocation } from '../../runtimes/python/python.runtime.js';
import { TaskCancelledError, WalltimeExceededError, type ExecutionOutcome } from '../../runtimes/task.errors.js';
import { PythonWorkers } from './python.workers.js';

const py = (source: string, entrypoint = 'main', args: unknown[] = [], kwargs: Record<string, unknown> = {}): PythonInvocation => ({
  source,
  entrypoint,
  contentHash: functionContentHash('python', source, { entrypoint }),
  args,
  kwargs,
  maxResultBytes: 1024 * 1024,
});
const noAbort = () => new AbortController().signal;
const abortAfter = (ms: number, reason: Error) => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(reason), ms);
  return controller.signal;
};
let seq = 0;
const id = () => `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`;
const failed = (o: ExecutionOutcome) => (o as { error: { code: string; name: string; message: string; stack?: string } }).error;

describe('PythonWorkers (python3 worker processes)', () => {
  let workers: PythonWorkers;
  beforeAll(() => {
    workers = new PythonWorkers({ size: 2, depth: 4 });
  });
  afterAll(async () => {
    await workers.stop();
  });

  it('starts with the first task and calls the entry point with args and kwargs; the module runs once per worker', async () => {
    expect(workers.pids()).toEqual([]);
    const source =
      'import os\nloads = 0\nloads += 1\ndef main(a, b=0, *rest, **more):\n    return {"sum": a + b, "rest": rest, "more": more, "loads": loads, "pid": os.getpid()}\n';
    const first = await workers.run(id(), py(source, 'main', [1, 2, 3], { x: 'y' }), noAbort());
    expect(first).toMatchObject({ status: 'success', result: { sum: 3, rest: [3], more: { x: 'y' }, loads: 1 } });
    expect(workers.pids()).toHaveLength(2);
    expect(workers.runtime()?.version).toMatch(/^3\.\d+/);
    const pid = (first as { result: { pid: number } }).result.pid;
    const again = await workers.run(id(), py(source, 'main', [5]), noAbort());
    if ((again as { result: { pid: number } }).result.pid === pid) expect(again).toMatchObject({ result: { loads: 1 } });
  });

  it("fails a raised exception with its type, message and a traceback of the user's frames only", async () => {
    const source = 'def helper(x):\n    raise KeyError(f"no {x}")\n\ndef main(x):\n    return helper(x)\n';
    const outcome = await workers.run(id(), py(source, 'main', ['key']), noAbort());
    const error = failed(outcome);
    expect(error).toMatchObject({ code: 'TASK_ERROR', name: 'KeyError', message: "'no key'" });
    expect(error.stack).toMatch(/^Traceback \(most recent call last\):\n {2}File "fx-function-[0-9a-f]{12}\.py", line 5, in main\n/);
    expect(error.stack).toContain('line 2, in helper\n    raise KeyError(f"no {x}")');
    expect(error.stack).not.toContain('fx_worker');
  });

  it('names non-builtin exceptions by module, reports syntax errors and a missing entry point', async () => {
    const json = await workers.run(id(), py('import json\ndef main():\n    return json.loads("{")\n'), noAbort());
    expect(failed(json).name).toBe('json.decoder.JSONDecodeError');
    const syntax = failed(await workers.run(id(), py('def main(:\n    pass\n'), noAbort()));
    expect(syntax).toMatchObject({ name: 'SyntaxError', stack: expect.stringContaining('line 1') });
    expect(failed(await workers.run(id(), py('def helper():\n    pass\n', 'main'), noAbort()))).toMatchObject({
      name: 'EntrypointNotFound',
      message: 'the source defines no function "main" at its top level (it defines: helper)',
    });
  });

  it('captures stdout and stderr (prints, subprocesses) with the outcome, success or failure, task by task', async () => {
    const source =
      'import os, sys\ndef main(fail):\n    print("one")\n    os.system("echo two")\n    print("warn", file=sys.stderr)\n    if fail:\n        raise RuntimeError("x")\n    return 1\n';
    expect(await workers.run(id(), py(source, 'main', [false]), noAbort())).toMatchObject({
      status: 'success',
      output: { stdout: 'one\ntwo\n', stderr: 'warn\n' },
    });
    expect(await workers.run(id(), py(source, 'main', [true]), noAbort())).toMatchObject({
      status: 'failed',
      output: { stdout: 'one\ntwo\n', stderr: 'warn\n' },
    });
    const quiet = await workers.run(id(), py('def main():\n    return 2\n'), noAbort());
    expect(quiet).toEqual({
      status: 'success',
      result: 2,
      workerId: expect.any(String),
      usage: { wallMs: expect.any(Number), cpuMs: expect.any(Number), maxRssBytes: expect.any(Number) },
    });
  });

  it('keeps the last lines of a chatty task and says it cut the rest', async () => {
    const outcome = await workers.run(id(), py('def main():\n    for i in range(5000):\n        print(i)\n'), noAbort());
    const output = (outcome as { output: { stdout: string; truncated: boolean } }).output;
    expect(output.truncated).toBe(true);
    expect(output.stdout.split('\n').slice(0, 2)).toEqual(['4000', '4001']);
    expect(output.stdout.endsWith('4999\n')).toBe(true);
  });

  it('refuses results JSON would not carry faithfully, with their path', async () => {
    const problem = async (expr: string) => failed(await workers.run(id(), py(`import math\ndef main():\n    return ${expr}\n`), noAbort())).message;
    expect(await problem('{"a": [1, math.nan]}')).toBe('the result cannot travel as JSON: result.a[1]: nan is not a JSON number; use None or a string');
    expect(await problem('{1: "x"}')).toContain('result: the key 1 is a int; JSON object keys are strings');
    expect(await problem('2 ** 60')).toContain('is beyond 2**53');
    expect(await problem('{"s": {1, 2}}')).toContain('result.s: a set is not a JSON value');
    expect(await workers.run(id(), py('def main():\n    return (1, "a", None, True, 2.5)\n'), noAbort())).toMatchObject({ result: [1, 'a', null, true, 2.5] });
  });

  it('interrupts a task at walltime and at cancel and keeps its worker; a task that ignores the interrupt loses it', async () => {
    const sleeper = py('import os, time\ndef main():\n    time.sleep(30)\n');
    const started = Date.now();
    expect(await workers.run(id(), sleeper, abortAfter(200, new WalltimeExceededError(0.2)))).toMatchObject({
      status: 'failed',
      error: { code: 'WALLTIME_EXCEEDED' },
    });
    expect(await workers.run(id(), sleeper, abortAfter(200, new TaskCancelledError()))).toMatchObject({ status: 'failed', error: { code: 'TASK_CANCELLED' } });
    // each sleeps 30 s unless interrupted: well under one such sleep for both, even on a loaded machine
    expect(Date.now() - started).toBeLessThan(20_000);
    const pids = workers.pids();
    expect(await workers.run(id(), py('import os\ndef main():\n    return os.getpid()\n'), noAbort())).toMatchObject({ status: 'success' });
    expect(workers.pids()).toEqual(pids);
    const stubborn = py(
      'import time\ndef main():\n    while True:\n        try:\n            time.sleep(30)\n        except KeyboardInterrupt:\n            pass\n',
    );
    const outcome = await workers.run(id(), stubborn, abortAfter(200, new TaskCancelledError()));
    expect(outcome).toMatchObject({ status: 'failed', error: { code: 'TASK_CANCELLED' } });
    await eventually(() => workers.pids().length === 2 && workers.pids().some((p) => !pids.includes(p)), 10_000, 'the stubborn worker replaced');
  });

  it('fails only the task of a worker that dies (WORKER_LOST), replaces it, and survives sys.exit in a task', async () => {
    const crash = await workers.run(id(), py('import os\ndef main():\n    os._exit(3)\n'), noAbort());
    expect(failed(crash)).toMatchObject({ code: 'WORKER_LOST', message: expect.stringContaining('exited with code 3') });
    expect(failed(await workers.run(id(), py('import sys\ndef main():\n    sys.exit(4)\n'), noAbort()))).toMatchObject({ name: 'SystemExit', message: '4' });
    await eventually(() => workers.pids().length === 2, 10_000, 'the replacement worker ready');
    expect(await workers.run(id(), py('def main(x):\n    return x * 2\n', 'main', [21]), noAbort())).toMatchObject({ result: 42 });
  });

  it('replaces a worker whose task garbles its channel to the agent, failing that task WORKER_LOST', async () => {
    const outcome = await workers.run(id(), py('import os, time\ndef main():\n    os.write(3, b"not json\\n")\n    time.sleep(5)\n'), noAbort());
    expect(failed(outcome)).toMatchObject({ code: 'WORKER_LOST', message: expect.stringContaining('SIGKILL') });
    expect(await workers.run(id(), py('def main():\n    return "fine"\n'), noAbort())).toMatchObject({ result: 'fine' });
  });

  it('fails a task past its memory limit (MEMORY_EXCEEDED) and replaces its worker', async () => {
    const hungry = py('import time\ndef main():\n    block = bytearray(400 * 1024 * 1024)\n    time.sleep(10)\n    return len(block)\n');
    const outcome = await workers.run(id(), hungry, noAbort(), undefined, { memoryBytes: 100 * 1024 * 1024 });
    expect(failed(outcome)).toMatchObject({ code: 'MEMORY_EXCEEDED' });
    expect(await workers.run(id(), py('def main():\n    return 1\n'), noAbort())).toMatchObject({ result: 1 });
  });

  it("keeps owners apart: a worker that ran one owner's task is replaced before it runs another's", async () => {
    const source = 'import os\nseen = []\ndef main(tag):\n    seen.append(tag)\n    return {"pid": os.getpid(), "seen": list(seen)}\n';
    const alice = await workers.run(id(), py(source, 'main', ['alice']), noAbort(), undefined, { ownerId: 'alice/x' });
    const bob = await workers.run(id(), py(source, 'main', ['bob']), noAbort(), undefined, { ownerId: 'bob/x' });
    expect(bob).toMatchObject({ status: 'success', result: { seen: ['bob'] } });
    expect((bob as { result: { pid: number } }).result.pid).not.toBe((alice as { result: { pid: number } }).result.pid);
  });
});

describe('PythonWorkers without a usable interpreter', () => {
  it('fails python tasks with RUNTIME_UNSUPPORTED and a sentence naming the setting', async () => {
    const workers = new PythonWorkers({ size: 1, python: '/nonexistent/python3' });
    try {
      const outcome = await workers.run(id(), py('def main():\n    return 1\n'), noAbort());
      expect(failed(outcome)).toMatchObject({
        code: 'RUNTIME_UNSUPPORTED',
        name: 'PythonUnavailable',
        message: expect.stringContaining('"/nonexistent/python3"'),
      });
      expect(failed(outcome).message).toContain('config.yaml "python:"');
    } finally {
      await workers.stop();
    }
  });
});

describe('PythonWorkers under uids of their own (the root agent without bubblewrap)', () => {
  const asUsers = new WorkerSandbox({ kind: 'uid' });

  it("runs each worker's tasks as a user of its own with an interpreter every user can read", async () => {
    const workers = new PythonWorkers({ size: 2, python: '/usr/bin/python3', sandbox: asUsers });
    try {
      const ids = py('import os\ndef main():\n    return [os.getuid(), os.getgid()]\n');
      const [mine, theirs] = await Promise.all([
        workers.run(id(), ids, noAbort(), undefined, { ownerId: 'alice/alice' }),
        workers.run(id(), ids, noAbort(), undefined, { ownerId: 'alice/bob' }),
      ]);
      const [uid, gid] = (mine as { result: number[] }).result;
      expect([gid, uid! >= SANDBOX_UID_FIRST]).toEqual([uid, true]);
      expect(theirs).toMatchObject({ status: 'success', result: [expect.any(Number), expect.any(Number)] });
      expect((theirs as { result: number[] }).result[0]).not.toBe(uid);
    } finally {
      await workers.stop();
    }
  });

  it('refuses, at pool start and in its report, an interpreter nobody cannot read (a pyenv Python under /root), saying so', async () => {
    const dir = await tempDir('fx-python-hidden');
    const python = join(dir.path, 'home', 'bin', 'python3');
    await mkdir(join(dir.path, 'home', 'bin'), { recursive: true });
    await chmod(join(dir.path, 'home'), 0o700);
    await symlink('/usr/bin/python3', python);
    const workers = new PythonWorkers({ size: 1, python, sandbox: asUsers });
    try {
      const error = failed(await workers.run(id(), py('def main():\n    return 1\n'), noAbort()));
      const sentence = `${python} at ${python} is not readable by the unprivileged users tasks run as: spawn ${python} EACCES`;
      expect(error).toMatchObject({ code: 'RUNTIME_UNSUPPORTED', name: 'PythonUnavailable' });
      expect(error.message).toContain(`python workers could not start with "${python}" (config.yaml "python:"): ${sentence}`);
      expect(error.message).toContain('/usr/bin/python3');
      expect(workers.pids()).toEqual([]);
      expect(workers.report()).toEqual({ available: false, reason: expect.stringContaining(sentence) });
    } finally {
      await workers.stop();
      await dir.remove();
    }
  });
});

describe('PythonWorkers priorities', () => {
  it('runs a more urgent task sent to a busy worker before the ones already waiting in it', async () => {
    const one = new PythonWorkers({ size: 1, depth: 8 });
    try {
      const starts: string[] = [];
      const run = (name: string, priority: number, source = 'def main():\n    return 1\n') =>
        one.run(name, py(source), noAbort(), () => starts.push(name), { priority });
      const runs = [run('long', 5, 'import time\ndef main():\n    time.sleep(0.4)\n'), run('low-1', 0), run('low-2', 0)];
      await eventually(() => starts.includes('long'), 20_000, 'the python worker started');
      runs.push(run('high', 9));
      for (const o of await Promise.all(runs)) expect(o.status).toBe('success');
      expect(starts).toEqual(['long', 'high', 'low-1', 'low-2']);
    } finally {
      await one.stop();
    }
  });
});
