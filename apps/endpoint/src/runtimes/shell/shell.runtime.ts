import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { performance } from 'node:perf_hooks';
import { watchMemory } from '../../providers/sandbox/memory.watch.js';
import { WorkerSandbox } from '../../providers/sandbox/worker.sandbox.js';
import { shellTemplateProblem, type ShellResult, type TaskSpec } from '@fx/protocol';
import { TaskCancelledError, WalltimeExceededError, abortFailure, failure, toRemoteError, type ExecutionOutcome } from '../task.errors.js';
import { UnknownPlaceholderError, renderCommand } from './shell-quote.js';
import { TailBuffer, tailOutput } from './tail.buffer.js';
import { placeShellObjects } from './shell.objects.js';
import type { ObjectPlacement } from '../../objects/object.placement.js';
import type { LiveSink, SubmitContext } from '../../providers/provider.js';
import { ShellLive } from './shell.live.js';

export interface ShellRuntimeOptions {
  /**
   * Keep only the last this-many lines of stdout and of stderr.
   * @default 1000
   */
  outputLines?: number;
  /**
   * How the command starts: always with a scrubbed environment in a fresh private directory under the OS
   * temp dir (removed afterwards); under bwrap or as a uid of its own when the sandbox says so.
   * @default new WorkerSandbox()
   */
  sandbox?: WorkerSandbox;
  /**
   * Where the per-task directories are created; never under FX_HOME (tasks must not find the tokens).
   * @default os.tmpdir()
   */
  workRoot?: string;
  /** Fails the task MEMORY_EXCEEDED when its processes together pass this many bytes. @default no limit */
  memoryBytes?: number;
  /**
   * After SIGTERM to the process group (walltime, cancel), wait this long before SIGKILL.
   * @default 1000
   */
  killGraceMs?: number;
  /** Extra environment for the command (e.g. CUDA_VISIBLE_DEVICES of a pinned worker). @default none */
  env?: Record<string, string>;
  /** Turns the rendered command into the one that runs (an MPI launcher around it). @default as is */
  wrap?: (cmd: string) => string;
  /** Called with the process group id while the command runs, and with `undefined` when it has ended. */
  onProcessGroup?: (pgid: number | undefined) => void;
}

export interface ShellInvocation {
  template: string;
  kwargs: Record<string, unknown>;
  /** The function's exit policy: a non-zero exit (or walltime) fails the task, with what it printed. @default false */
  failOnNonZeroExit?: boolean;
  /** The task's objects: each reference in kwargs becomes a path (see placeShellObjects). */
  objects?: ObjectPlacement[];
  /** Link objects into the working directory (false: the prepared files' own paths, for MPI). @default true */
  linkObjects?: boolean;
  /** Where what it prints (and its progress lines) go while it runs. */
  live?: LiveSink;
  /** The function's progress prefix: stdout lines starting with it are progress values (shell.live.ts). */
  progressPrefix?: string;
}

/** The invocation of a shell task: its function's template and exit policy, the task's kwargs, objects and live sink. */
export function shellInvocation(task: TaskSpec, context: Pick<SubmitContext, 'live' | 'objects'>): ShellInvocation {
  return {
    template: task.function.source,
    kwargs: task.kwargs,
    failOnNonZeroExit: task.function.failOnNonZeroExit === true,
    ...(task.function.progressPrefix !== undefined ? { progressPrefix: task.function.progressPrefix } : {}),
    ...(context.live ? { live: context.live } : {}),
    ...(context.objects ? { objects: context.objects } : {}),
  };
}

/** GNU timeout's exit status for a command that ran out of time. */
export const WALLTIME_RETURNCODE = 124;

/**
 * Runs one shell task: fills the template, runs it with `/bin/sh -c` in its own process group and a
 * fresh working directory. Walltime ends the group and still succeeds with return code 124, as GNU
 * timeout would; a cancel ends the group and fails with TASK_CANCELLED. With `failOnNonZeroExit` a
 * non-zero exit fails the task (NON_ZERO_EXIT) and walltime fails it (WALLTIME_EXCEEDED), each carrying
 * the tails of stdout and stderr.
 */
export async function runShell(invocation: ShellInvocation, signal: AbortSignal, options: ShellRuntimeOptions = {}): Promise<ExecutionOutcome> {
  // The server refuses such templates at registration; refused here too, whatever this agent is sent.
  const problem = shellTemplateProblem(invocation.template);
  if (problem) return failure('TASK_ERROR', 'UnsafeTemplate', problem);
  let cmd: string;
  try {
    cmd = renderCommand(invocation.template, invocation.kwargs);
  } catch (error) {
    if (error instanceof UnknownPlaceholderError) return failure('TASK_ERROR', error.name, error.message);
    throw error;
  }
  if (options.wrap) cmd = options.wrap(cmd);
  const strict = invocation.failOnNonZeroExit === true;
  if (signal.aborted) return abortedOutcome(signal.reason, cmd, strict);
  const outputLines = options.outputLines ?? 1000;
  const sandbox = options.sandbox ?? new WorkerSandbox();
  const cwd = await sandbox.workDir('fx-task-', options.workRoot);
  try {
    if (invocation.objects && invocation.objects.length > 0) {
      try {
        const kwargs = await placeShellObjects(invocation.kwargs, invocation.objects, invocation.linkObjects === false ? undefined : cwd);
        cmd = renderCommand(invocation.template, kwargs);
      } catch (error) {
        return failure('OBJECT_UNAVAILABLE', 'ObjectUnavailable', `the task's objects could not be placed in its directory: ${(error as Error).message}`);
      }
      if (options.wrap) cmd = options.wrap(cmd);
    }
    return await new Promise<ExecutionOutcome>((resolve) => {
      const stdout = new TailBuffer(outputLines);
      const stderr = new TailBuffer(outputLines);
      let killTimer: NodeJS.Timeout | undefined;
      const spec = sandbox.command('/bin/sh', ['-c', cmd], cwd);
      const child = spawn(spec.file, spec.args, {
        cwd,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: sandbox.env(cwd, options.env),
        ...(spec.uid !== undefined ? { uid: spec.uid, gid: spec.gid } : {}),
      });
      // wall time only: Node reports no resource use of child processes (no fake CPU figure instead)
      const spawnedAt = performance.now();
      const pgid = child.pid;
      if (pgid !== undefined) options.onProcessGroup?.(pgid);
      let memoryExceeded: string | undefined;
      const stopWatch =
        pgid !== undefined && options.memoryBytes !== undefined
          ? watchMemory(pgid, options.memoryBytes, (bytes) => {
              memoryExceeded = `the task used ${Math.round(bytes / 1048576)} MB of memory, more than the ${Math.round((options.memoryBytes as number) / 1048576)} MB allowed (taskLimits.memoryMB)`;
              killGroup('SIGKILL');
            })
          : () => undefined;
      const live = invocation.live && new ShellLive(invocation.live, invocation.progressPrefix);
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout.push(chunk);
        live?.printed('stdout', chunk);
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr.push(chunk);
        live?.printed('stderr', chunk);
      });

      const killGroup = (sig: NodeJS.Signals) => {
        if (pgid === undefined) return;
        try {
          process.kill(-pgid, sig);
        } catch {
          // the group is already gone
        }
      };
      const onAbort = () => {
        killGroup('SIGTERM');
        killTimer = setTimeout(() => killGroup('SIGKILL'), options.killGraceMs ?? 1000);
        killTimer.unref();
      };
      signal.addEventListener('abort', onAbort, { once: true });

      const settle = (outcome: ExecutionOutcome) => {
        live?.end();
        stopWatch();
        signal.removeEventListener('abort', onAbort);
        if (killTimer) clearTimeout(killTimer);
        options.onProcessGroup?.(undefined);
        resolve({ ...outcome, usage: { wallMs: Math.round(performance.now() - spawnedAt), cpuMs: null, maxRssBytes: null } });
      };
      child.on('error', (error) => settle({ status: 'failed', error: toRemoteError(error, 'TASK_ERROR') }));
      // A background job left in the group would hold the pipes open and delay 'close' forever: once
      // the shell itself has exited, end the group, then settle on 'close' when all output is read.
      child.on('exit', () => killGroup('SIGKILL'));
      child.on('close', (code, sig) => {
        if (memoryExceeded !== undefined) {
          settle(failure('MEMORY_EXCEEDED', 'MemoryExceeded', memoryExceeded));
          return;
        }
        if (signal.aborted) {
          if (!(signal.reason instanceof WalltimeExceededError)) settle(abortedOutcome(signal.reason, cmd, strict));
          else if (strict) settle(withOutput(abortFailure(signal.reason), stdout, stderr));
          else settle(success(cmd, stdout.text(), stderr.text(), WALLTIME_RETURNCODE));
          return;
        }
        const returncode = code ?? 128 + (sig ? (osConstants.signals[sig] ?? 0) : 0);
        if (strict && returncode !== 0) {
          const shown = cmd.length > 200 ? `${cmd.slice(0, 200)}…` : cmd;
          settle(withOutput(failure('NON_ZERO_EXIT', 'NonZeroExit', `the command exited with status ${returncode}: ${shown}`), stdout, stderr));
        } else {
          settle(success(cmd, stdout.text(), stderr.text(), returncode));
        }
      });
    });
  } finally {
    await sandbox.release(cwd);
  }
}

function success(cmd: string, stdout: string, stderr: string, returncode: number): ExecutionOutcome {
  const result: ShellResult = { cmd, stdout, stderr, returncode };
  return { status: 'success', result };
}

function abortedOutcome(reason: unknown, cmd: string, strict: boolean): ExecutionOutcome {
  if (reason instanceof WalltimeExceededError) return strict ? abortFailure(reason) : success(cmd, '', '', WALLTIME_RETURNCODE);
  return abortFailure(reason instanceof TaskCancelledError ? reason : new TaskCancelledError());
}

function withOutput(outcome: ExecutionOutcome, stdout: TailBuffer, stderr: TailBuffer): ExecutionOutcome {
  const output = tailOutput(stdout, stderr);
  return output ? { ...outcome, output } : outcome;
}
