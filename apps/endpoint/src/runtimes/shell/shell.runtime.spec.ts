import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ShellResult } from '@fx/protocol';
import { TaskCancelledError, WalltimeExceededError, type ExecutionOutcome } from '../task.errors.js';
import { UnknownPlaceholderError, renderCommand, shellQuote } from './shell-quote.js';
import { runShell } from './shell.runtime.js';
import { TailBuffer } from './tail.buffer.js';

/** Whether `pid` is gone (or a zombie nobody reaps: a container's init may not) within `ms`. */
async function endsWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    if (stat === undefined || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

const never = () => new AbortController().signal;
const resultOf = (outcome: ExecutionOutcome): ShellResult => {
  if (outcome.status !== 'success') throw new Error(`expected success, got ${JSON.stringify(outcome)}`);
  return outcome.result as ShellResult;
};

describe('renderCommand', () => {
  it('quotes every value so hostile kwargs stay data', () => {
    expect(renderCommand('echo {msg}', { msg: `'; rm -rf / #` })).toBe(`echo ''\\''; rm -rf / #'`);
    expect(shellQuote(`$(touch x) \`y\` "z"`)).toBe(`'$(touch x) \`y\` "z"'`);
  });
  it('writes numbers and objects as text, and {{ }} as literal braces', () => {
    expect(renderCommand('x {n} {o} ${{HOME}} awk {{print}}', { n: 3, o: { a: 1 } })).toBe(`x '3' '{"a":1}' \${HOME} awk {print}`);
  });
  it('names every placeholder the kwargs lack', () => {
    expect(() => renderCommand('cp {src} {dst} {src}', {})).toThrow(UnknownPlaceholderError);
    expect(() => renderCommand('cp {src} {dst}', { src: 'a' })).toThrow(/\{dst\}/);
  });
});

describe('runShell', () => {
  let workRoot: string;
  beforeEach(async () => {
    workRoot = await mkdtemp(join(tmpdir(), 'fx-shell-spec-'));
  });
  afterEach(async () => {
    await rm(workRoot, { recursive: true, force: true });
  });

  it('returns cmd, stdout, stderr and the return code', async () => {
    const result = resultOf(await runShell({ template: 'echo {a}; echo oops >&2; exit 3', kwargs: { a: 'hi there' } }, never(), { workRoot }));
    expect(result).toEqual({ cmd: `echo 'hi there'; echo oops >&2; exit 3`, stdout: 'hi there\n', stderr: 'oops\n', returncode: 3 });
  });

  it('passes a hostile kwarg through as one literal argument, running nothing else', async () => {
    const marker = join(workRoot, 'pwned');
    const hostile = `'; touch ${marker} #`;
    const result = resultOf(await runShell({ template: 'printf %s {x}', kwargs: { x: hostile } }, never(), { workRoot }));
    expect(result.stdout).toBe(hostile);
    expect(existsSync(marker)).toBe(false);
    const injected = resultOf(await runShell({ template: 'printf %s {x}', kwargs: { x: `$(touch ${marker})` } }, never(), { workRoot }));
    expect(injected.stdout).toBe(`$(touch ${marker})`);
    expect(existsSync(marker)).toBe(false);
  });

  it('fails an unknown placeholder with TASK_ERROR naming it', async () => {
    expect(await runShell({ template: 'echo {missing}', kwargs: {} }, never(), { workRoot })).toMatchObject({
      status: 'failed',
      error: { code: 'TASK_ERROR', message: expect.stringContaining('{missing}') },
    });
  });

  it('runs in a fresh working directory that is removed afterwards', async () => {
    const result = resultOf(await runShell({ template: 'pwd', kwargs: {} }, never(), { workRoot }));
    expect(result.stdout.trim().startsWith(join(workRoot, 'fx-task-'))).toBe(true);
    expect(await readdir(workRoot)).toEqual([]);
  });

  it('ends the whole process group at walltime and succeeds with return code 124', async () => {
    const controller = new AbortController();
    const pidFile = join(workRoot, 'child.pid');
    setTimeout(() => controller.abort(new WalltimeExceededError(0.3)), 300);
    const outcome = await runShell({ template: `echo started; sleep 30 & echo $! > {pidFile}; wait`, kwargs: { pidFile } }, controller.signal, {
      workRoot,
      killGraceMs: 200,
    });
    const result = resultOf(outcome);
    expect(result.returncode).toBe(124);
    expect(result.stdout).toBe('started\n');
    const background = Number((await readFile(pidFile, 'utf8')).trim());
    expect(await endsWithin(background, 3000)).toBe(true);
  });

  it('fails a cancelled command with TASK_CANCELLED', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new TaskCancelledError()), 200);
    expect(await runShell({ template: 'sleep 30', kwargs: {} }, controller.signal, { workRoot })).toMatchObject({
      status: 'failed',
      error: { code: 'TASK_CANCELLED' },
    });
  });

  it('with failOnNonZeroExit fails a non-zero exit (NON_ZERO_EXIT) and walltime, carrying the output tails', async () => {
    const strict = (template: string) => ({ template, kwargs: {}, failOnNonZeroExit: true });
    expect(await runShell(strict('echo out; echo err >&2; exit 3'), never(), { workRoot, outputLines: 1 })).toEqual({
      status: 'failed',
      error: { code: 'NON_ZERO_EXIT', name: 'NonZeroExit', message: 'the command exited with status 3: echo out; echo err >&2; exit 3' },
      output: { stdout: 'out\n', stderr: 'err\n' },
      // wall time only (usage.meter.ts): Node reports no resource use of child processes
      usage: { wallMs: expect.any(Number), cpuMs: null, maxRssBytes: null },
    });
    expect(resultOf(await runShell(strict('echo fine'), never(), { workRoot }))).toMatchObject({ stdout: 'fine\n', returncode: 0 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new WalltimeExceededError(0.3)), 300);
    expect(await runShell(strict('echo started; sleep 30'), controller.signal, { workRoot, killGraceMs: 200 })).toMatchObject({
      status: 'failed',
      error: { code: 'WALLTIME_EXCEEDED' },
      output: { stdout: 'started\n', stderr: '' },
    });
  });

  it('keeps only the last outputLines lines of each stream', async () => {
    const result = resultOf(await runShell({ template: 'seq 1 5000; seq 1 3 >&2', kwargs: {} }, never(), { workRoot, outputLines: 10 }));
    expect(result.stdout).toBe(Array.from({ length: 10 }, (_, i) => `${4991 + i}\n`).join(''));
    expect(result.stderr).toBe('1\n2\n3\n');
  });
});

describe('TailBuffer', () => {
  it('keeps the last lines across chunk boundaries, counting an unterminated last line', () => {
    const tail = new TailBuffer(2);
    tail.push('a\nb');
    tail.push('c\nd\ne');
    expect(tail.text()).toBe('d\ne');
    expect(tail.truncated).toBe(true);
  });

  it('keeps at most maxChars of the last lines, whatever their count: 200 lines of 3 MB end in a string, not a throw', () => {
    const line = 'x'.repeat(3 * 1024 * 1024 - 2);
    const tail = new TailBuffer(1000);
    for (let i = 0; i < 200; i++) tail.push(`${line}${i % 10}\n`);
    const text = tail.text();
    expect(text.length).toBe(4 * 1024 * 1024);
    expect(text.endsWith('x9\n')).toBe(true);
    expect(tail.truncated).toBe(true);
    // the last characters, across line boundaries
    const small = new TailBuffer(1000, 10);
    for (let i = 0; i < 100; i++) small.push(`line ${i}\n`);
    expect([small.text(), small.truncated]).toEqual(['8\nline 99\n', true]);
    const short = new TailBuffer(1000, 10);
    short.push('a\nb\n');
    expect([short.text(), short.truncated]).toEqual(['a\nb\n', false]);
  });
});
