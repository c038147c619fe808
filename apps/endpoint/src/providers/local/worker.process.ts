import { spawn, type ChildProcess } from 'node:child_process';
import { DEFAULT_LIMITS } from '@fx/protocol';
import type { WorkerSandbox } from '../sandbox/worker.sandbox.js';
import type { WorkerLauncher } from './worker.launcher.js';
import { linkStdio, openLink, type WorkerLink } from './worker.link.js';
import type { WorkerOutput } from './worker.output.js';
import type { WorkerToParentMessage } from './worker.messages.js';
import { NamedError } from '../../common/named.error.js';

export class WorkerStartError extends NamedError {}

/** `retiring`: being killed (walltime, cancel); a fresh worker takes its slot once it has exited. */
export type WorkerState = 'starting' | 'up' | 'retiring' | 'dead';

/** One worker process of a pool; `J` is what the pool hands it. */
export interface WorkerProcess<J> {
  id: string;
  slot: number;
  child: ChildProcess;
  /** Its private directory (removed when it exits): where it writes result files. */
  workDir: string;
  /** The user it runs as, whose its files must be (workerOutcome checks its result files against it). */
  uid: number | undefined;
  /** The channel to it (worker.link.ts). */
  link: WorkerLink;
  state: WorkerState;
  /** What this worker holds, in the order sent: the first runs (once started), the rest wait in it. */
  jobs: J[];
  exited: Promise<void>;
  startedAt: number;
  /**
   * Whose tasks it has run or holds: user code leaves state behind (globals, patched builtins, timers), so
   * a worker that served one owner is replaced before it serves another.
   */
  owner?: string;
  /** What it said it runs on, in its `ready` (python: version and executable). */
  runtime?: { version: string; executable: string };
}

export interface WorkerProcessSpec {
  slot: number;
  /** What to start and how to speak to it. */
  launcher: WorkerLauncher;
  sandbox: WorkerSandbox;
  /** Its private directory (from `sandbox.workDir`), removed when it exits. */
  workDir: string;
  env?: Record<string, string>;
  startTimeoutMs: number;
  /** Where what it prints goes (its pool's, shared by its workers). */
  output: WorkerOutput;
}

export interface WorkerProcessEvents<J> {
  /** It reported ready (after `starting`). */
  ready: (worker: WorkerProcess<J>) => void;
  /** Any other message it sent. */
  message: (worker: WorkerProcess<J>, message: WorkerToParentMessage) => void;
  /** It broke its link's framing; it is being killed (an exit follows). */
  broken: (worker: WorkerProcess<J>, why: string) => void;
  /** It exited (`how`: "exited with code …" or "was killed by signal …"); it is `dead` by now. */
  exit: (worker: WorkerProcess<J>, how: string, wasStarting: boolean) => void;
}

/** How long after a worker's exit its link may stay open (a process it started holds it) before the exit is taken anyway. */
const EXIT_DRAIN_MS = 1_000;

/** Longest message a worker may send on its link: a result frame's worth. */
const MAX_MESSAGE_CHARS = DEFAULT_LIMITS.maxFrameBytes;

/**
 * Starts one worker process (its sandbox's command, scrubbed environment, its link to the pool).
 * `ready` resolves when the worker reports ready and rejects with WorkerStartError when it cannot start,
 * exits first or stays silent past the start timeout (then it is killed).
 */
export function startWorkerProcess<J>(spec: WorkerProcessSpec, events: WorkerProcessEvents<J>): { worker: WorkerProcess<J>; ready: Promise<void> } {
  const { slot, sandbox, workDir, launcher } = spec;
  const program = launcher.command();
  const command = sandbox.command(program.file, program.args, workDir);
  const child = spawn(command.file, command.args, {
    cwd: workDir,
    env: sandbox.env(workDir, spec.env),
    stdio: linkStdio(),
    ...(command.uid !== undefined ? { uid: command.uid, gid: command.gid } : {}),
  });
  let resolveExited!: () => void;
  const exited = new Promise<void>((resolve) => (resolveExited = resolve));
  const link = openLink(child, MAX_MESSAGE_CHARS);
  const worker: WorkerProcess<J> = {
    id: `w${slot}-${child.pid ?? '?'}`,
    slot,
    child,
    workDir,
    uid: command.uid ?? process.getuid?.(),
    link,
    state: 'starting',
    jobs: [],
    exited,
    startedAt: Date.now(),
  };
  spec.output.attach(child.stdout, child.stderr, () => worker.owner);

  const ready = new Promise<void>((resolveReady, rejectReady) => {
    const startTimer = setTimeout(() => {
      rejectReady(new WorkerStartError(`worker ${worker.id} did not report ready within ${spec.startTimeoutMs} ms`));
      child.kill('SIGKILL');
    }, spec.startTimeoutMs);

    link.onBroken((why) => {
      events.broken(worker, why);
      child.kill('SIGKILL');
    });
    link.onMessage((message: WorkerToParentMessage) => {
      if (message.type === 'ready' && worker.state === 'starting') {
        clearTimeout(startTimer);
        worker.state = 'up';
        if (message.runtime) worker.runtime = message.runtime;
        resolveReady();
        events.ready(worker);
      } else {
        events.message(worker, message);
      }
    });
    const gone = (how: string) => {
      if (worker.state === 'dead') return;
      clearTimeout(startTimer);
      const wasStarting = worker.state === 'starting';
      worker.state = 'dead';
      void sandbox.release(workDir);
      resolveExited();
      if (wasStarting) rejectReady(new WorkerStartError(`worker ${worker.id} ${how} before it was ready`));
      events.exit(worker, how, wasStarting);
    };
    child.on('error', (error) => {
      // Spawn failures surface here; an exit event may or may not follow.
      if (worker.state === 'starting') {
        clearTimeout(startTimer);
        rejectReady(new WorkerStartError(`worker ${worker.id} could not start: ${error.message}`, { cause: error }));
      }
      // A program that could not be started at all (ENOENT) never exits: it is gone now.
      if (child.pid === undefined) gone(`could not start (${error.message})`);
    });
    // What a worker wrote just before it died (the `done` of the task before a crashing one) may still be
    // in its link when the exit is reported, more of it when the message is larger than one read: its
    // end is taken once the link is read to its end ('close'), or EXIT_DRAIN_MS after the exit when a
    // process it started holds the link open.
    child.on('exit', (code, signal) => {
      const how = signal ? `was killed by signal ${signal}` : `exited with code ${code}`;
      child.once('close', () => gone(how));
      setTimeout(() => gone(how), EXIT_DRAIN_MS).unref();
    });
  });
  return { worker, ready };
}

/** Ends one worker: closing its link lets an idle one exit by itself; SIGKILL if it lingers past `graceMs`. */
export async function stopWorkerProcess(worker: WorkerProcess<unknown>, graceMs: number): Promise<void> {
  if (worker.state === 'dead') return worker.exited;
  try {
    if (worker.link.connected) worker.link.disconnect();
  } catch {
    // already disconnected
  }
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), graceMs);
  await worker.exited;
  clearTimeout(timer);
}
