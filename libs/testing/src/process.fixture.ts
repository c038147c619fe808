import { type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * Helpers for fixtures that run FX as real processes (end-to-end, fault and load tests, the benchmark).
 */

/** A TCP port free on 127.0.0.1 right now (the OS picks it; a race with another binder is possible but rare). */
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

/** What the process fixtures share: their one child process at a time, and the last of what it printed. */
export abstract class ChildFixture {
  child?: ChildProcess;
  readonly output: string[] = [];

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Makes `child` this fixture's process, keeping the last `keep` chunks of what it prints. */
  protected adopt(child: ChildProcess, keep = 2000): ChildProcess {
    this.child = child;
    collectOutput(child, this.output, keep);
    return child;
  }
}

/** Keeps the last `keep` chunks a process writes to stdout and stderr, for failure messages. */
export function collectOutput(child: ChildProcess, into: string[], keep = 2000): void {
  const push = (d: Buffer) => {
    into.push(d.toString());
    if (into.length > keep) into.splice(0, into.length - keep);
  };
  child.stdout?.on('data', push);
  child.stderr?.on('data', push);
}

export interface ExitedOptions {
  /** @default 30000 */
  timeoutMs?: number;
  /** On timeout, SIGKILL the process and resolve (rather than reject). @default false */
  killOnTimeout?: boolean;
}

/** Resolves with the exit code once the process has exited; rejects (or kills it) after the timeout. */
export async function exited(child: ChildProcess, options: ExitedOptions | number = {}): Promise<number | null> {
  const { timeoutMs = 30_000, killOnTimeout = false } = typeof options === 'number' ? { timeoutMs: options } : options;
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  return new Promise((res, rej) => {
    const t = setTimeout(() => {
      if (!killOnTimeout) return rej(new Error(`process ${child.pid} did not exit within ${timeoutMs} ms`));
      child.kill('SIGKILL');
      res(null);
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(t);
      res(code);
    });
  });
}
