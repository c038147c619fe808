import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runShell } from '../../runtimes/shell/shell.runtime.js';
import { kernelAtLeast } from './process-limit.js';
import { WorkerSandbox } from './worker.sandbox.js';

const never = () => new AbortController().signal;
const NOBODY = 65534;
/** A fork bomb that counts: each background sleep it starts prints its number, until a fork fails. */
const BOMB = 'for i in $(seq 200); do sleep 20 > /dev/null 2>&1 & echo $i; done';
const started = (stdout: string) => Number(stdout.trim().split('\n').pop() ?? 0);

describe('the processes of a sandboxed task (a fork bomb)', () => {
  it('reads kernel releases as the per-namespace count needs (5.14 and later)', () => {
    expect(['5.14.0-284.el9', '6.1.0-18-amd64', '5.15.0', '6.18.44-fc'].map((v) => kernelAtLeast(v, 5, 14))).toEqual([true, true, true, true]);
    expect(['4.18.0-553.el8', '5.13.19', '5.4.0-150', 'x'].map((v) => kernelAtLeast(v, 5, 14))).toEqual([false, false, false, false]);
  });

  it('stops a fork bomb at the limit under the uid sandbox (a root agent: each task a uid of its own)', async () => {
    expect(process.getuid?.()).toBe(0); // .ci/run runs as root, as the Docker image's agent does
    const sandbox = new WorkerSandbox({ kind: 'uid', maxProcesses: 64 });
    expect(sandbox.processLimit).toEqual({ max: 64 });
    const out = await runShell({ template: BOMB, kwargs: {} }, never(), { sandbox });
    const { stdout, stderr } = (out as { result: { stdout: string; stderr: string } }).result;
    expect(started(stdout)).toBeGreaterThan(40);
    expect(started(stdout)).toBeLessThan(64);
    expect(stderr).toMatch(/Cannot fork|Resource temporarily unavailable/);
  });

  it("stops a fork bomb at the limit under bubblewrap, counted apart from the agent user's other processes", async () => {
    // An agent of an ordinary user (as root, RLIMIT_NPROC binds nothing): the check runs in a node
    // process of its own, as nobody when the tests run as root, on the built sandbox.
    const dist = (path: string) => pathToFileURL(fileURLToPath(new URL(`../../../dist/${path}`, import.meta.url))).href;
    const script = `
      const { WorkerSandbox } = await import(${JSON.stringify(dist('providers/sandbox/worker.sandbox.js'))});
      const { runShell } = await import(${JSON.stringify(dist('runtimes/shell/shell.runtime.js'))});
      const { execFileSync } = await import('node:child_process');
      const sandbox = new WorkerSandbox({ kind: 'bwrap', maxProcesses: 64 });
      const signal = new AbortController().signal;
      const sleepers = () => Number(execFileSync('sh', ['-c', 'pgrep -c -u "$(id -u)" -x sleep || true'], { encoding: 'utf8' }).trim());
      // the bomb ends its shell but holds its sleeps for 3 s (exec: no fork needed)
      const bomb = runShell({ template: '(${BOMB}); exec sleep 3', kwargs: {} }, signal, { sandbox });
      for (let i = 0; i < 100 && sleepers() < 40; i++) await new Promise((r) => setTimeout(r, 50));
      const held = sleepers();
      const other = await runShell({ template: 'for i in $(seq 40); do sleep 1 & done; wait; echo 40 started', kwargs: {} }, signal, { sandbox });
      console.log(JSON.stringify({ limit: sandbox.processLimit, held, bomb: (await bomb).result, other: other.result }));
    `;
    const asNobody = process.getuid?.() === 0;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: '/tmp',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp' },
      ...(asNobody ? { uid: NOBODY, gid: NOBODY } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((done) => child.on('exit', done));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const report = JSON.parse(stdout.trim().split('\n').pop()!) as {
      limit: unknown;
      held: number;
      bomb: { stdout: string; stderr: string };
      other: { stdout: string };
    };
    expect(report.limit).toEqual({ max: 64 });
    expect(started(report.bomb.stdout)).toBeGreaterThan(40);
    expect(started(report.bomb.stdout)).toBeLessThan(64);
    expect(report.bomb.stderr).toMatch(/Cannot fork|Resource temporarily unavailable/);
    // while the bomb's sleeps were held, the same user started 40 more processes in another sandbox
    expect(report.held).toBeGreaterThan(40);
    expect(report.other.stdout.trim()).toBe('40 started');
  }, 30_000);
});
