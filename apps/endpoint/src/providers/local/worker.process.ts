import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import type { WorkerSandbox } from '../sandbox/worker.sandbox.js';
import type { WorkerToParentMessage } from './worker.messages.js';

export class WorkerStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WorkerStartError';
  }
}

/** `retiring`: being killed (walltime, cancel); a fresh worker takes its slot once it has exited. */
export type WorkerState = 'starting' | 'up' | 'retiring' | 'dead';

/** One worker process of a pool; `J` is what the pool hands it. */
export interface WorkerProcess<J> {
  id: string;
  slot: number;
  child: ChildProcess;
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
}

export interface WorkerProcessSpec {
  slot: number;
  /** The compiled worker entry. */
  script: string;
  sandbox: WorkerSandbox;
  /** Its private directory (from `sandbox.workDir`), removed when it exits. */
  workDir: string;
  execArgv?: string[];
  env?: Record<string, string>;
  startTimeoutMs: number;
}

export interface WorkerProcessEvents<J> {
  /** It reported ready (after `starting`). */
  ready: (worker: WorkerProcess<J>) => void;
  /** Any other message it sent. */
  message: (worker: WorkerProcess<J>, message: WorkerToParentMessage) => void;
  /** It exited (`how`: "exited with code …" or "was killed by signal …"); it is `dead` by now. */
  exit: (worker: WorkerProcess<J>, how: string, wasStarting: boolean) => void;
}

/**
 * Starts one worker process (its sandbox's command, scrubbed environment, IPC with JSON serialization).
 * `ready` resolves when the worker reports ready and rejects with WorkerStartError when it cannot start,
 * exits first or stays silent past the start timeout (then it is killed).
 */
export function startWorkerProcess<J>(spec: WorkerProcessSpec, events: WorkerProcessEvents<J>): { worker: WorkerProcess<J>; ready: Promise<void> } {
  const { slot, sandbox, workDir } = spec;
  // The js runtime's import() (vm's USE_MAIN_CONTEXT_DEFAULT_LOADER) is "experimental": its warning would land in the agent's log.
  const command = sandbox.command(process.execPath, ['--disable-warning=ExperimentalWarning', ...(spec.execArgv ?? []), spec.script], workDir);
  const child = spawn(command.file, command.args, {
    cwd: workDir,
    env: sandbox.env(workDir, spec.env),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'json',
    ...(command.uid !== undefined ? { uid: command.uid, gid: command.gid } : {}),
  });
  let resolveExited!: () => void;
  const exited = new Promise<void>((resolve) => (resolveExited = resolve));
  const worker: WorkerProcess<J> = { id: `w${slot}-${child.pid ?? '?'}`, slot, child, state: 'starting', jobs: [], exited, startedAt: Date.now() };

  const ready = new Promise<void>((resolveReady, rejectReady) => {
    const startTimer = setTimeout(() => {
      rejectReady(new WorkerStartError(`worker ${worker.id} did not report ready within ${spec.startTimeoutMs} ms`));
      child.kill('SIGKILL');
    }, spec.startTimeoutMs);

    child.on('message', (message: WorkerToParentMessage) => {
      if (message.type === 'ready' && worker.state === 'starting') {
        clearTimeout(startTimer);
        worker.state = 'up';
        resolveReady();
        events.ready(worker);
      } else {
        events.message(worker, message);
      }
    });
    child.on('error', (error) => {
      // Spawn failures surface here; an exit event may or may not follow.
      if (worker.state === 'starting') {
        clearTimeout(startTimer);
        rejectReady(new WorkerStartError(`worker ${worker.id} could not start: ${error.message}`, { cause: error }));
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(startTimer);
      const wasStarting = worker.state === 'starting';
      worker.state = 'dead';
      void rm(workDir, { recursive: true, force: true }).catch(() => undefined);
      resolveExited();
      const how = signal ? `was killed by signal ${signal}` : `exited with code ${code}`;
      if (wasStarting) rejectReady(new WorkerStartError(`worker ${worker.id} ${how} before it was ready`));
      events.exit(worker, how, wasStarting);
    });
  });
  return { worker, ready };
}

/** Ends one worker: closing IPC lets an idle one exit by itself; SIGKILL if it lingers past `graceMs`. */
export async function stopWorkerProcess(worker: WorkerProcess<unknown>, graceMs: number): Promise<void> {
  if (worker.state === 'dead') return worker.exited;
  try {
    if (worker.child.connected) worker.child.disconnect();
  } catch {
    // already disconnected
  }
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), graceMs);
  await worker.exited;
  clearTimeout(timer);
}
