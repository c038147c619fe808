import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { WorkerCounts } from '@fx/protocol';
import type { JsInvocation } from '../../runtimes/js/js.runtime.js';
import { abortFailure, failure, type ExecutionOutcome } from '../../runtimes/task.errors.js';
import type { ParentToWorkerMessage, WorkerToParentMessage } from './worker.messages.js';

export interface WorkerPoolOptions {
  /** How many worker processes to keep. */
  size: number;
  /**
   * The compiled worker entry. Tests that run from TypeScript sources point this at `dist/`.
   * @default new URL('./worker.js', import.meta.url)
   */
  workerScript?: string | URL;
  /**
   * Node flags for workers. Not inherited from the agent: a test runner's flags have no business there.
   * @default []
   */
  execArgv?: string[];
  /**
   * How long a worker may take to report ready.
   * @default 15000
   */
  startTimeoutMs?: number;
  /** Extra environment for every worker (e.g. CUDA_VISIBLE_DEVICES of a pinned worker). @default none */
  env?: Record<string, string>;
  /** Called when the set of worker processes changes (a worker started, died or was replaced). */
  onChange?: () => void;
  /** Receives one sentence per notable event (a worker died, was replaced). */
  log?: (message: string) => void;
}

export class WorkerStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WorkerStartError';
  }
}

/** `retiring`: being killed (walltime, cancel); a fresh worker takes its slot once it has exited. */
type WorkerState = 'starting' | 'idle' | 'busy' | 'retiring' | 'dead';

interface Running {
  taskId: string;
  finish: (outcome: ExecutionOutcome) => void;
}

interface PoolWorker {
  id: string;
  slot: number;
  child: ChildProcess;
  state: WorkerState;
  running?: Running;
  exited: Promise<void>;
  startedAt: number;
}

interface Waiter {
  grant: (worker: PoolWorker) => void;
}

/**
 * A fixed-size pool of long-lived worker processes (child_process.fork, IPC), one task each at a time.
 * A worker that dies fails only its own task (WORKER_LOST) and is replaced; a task that must stop
 * (walltime, cancel) is stopped by killing its worker, since synchronous user code cannot be interrupted.
 */
export class WorkerPool {
  private readonly workers: PoolWorker[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly script: string;
  private stopping = false;
  private readonly respawnFailures: number[] = [];

  constructor(private readonly options: WorkerPoolOptions) {
    const script = options.workerScript ?? new URL('./worker.js', import.meta.url);
    this.script = script instanceof URL ? fileURLToPath(script) : script;
  }

  async start(): Promise<void> {
    if (!existsSync(this.script)) {
      throw new WorkerStartError(`the worker entry ${this.script} does not exist; build fx-endpoint first (npm run build)`);
    }
    const ready: Promise<void>[] = [];
    for (let slot = 0; slot < this.options.size; slot++) ready.push(this.spawn(slot));
    const results = await Promise.allSettled(ready);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.stop();
      throw failed.reason;
    }
  }

  /** Runs one js invocation on the next idle worker. */
  async run(taskId: string, invocation: Required<JsInvocation>, signal: AbortSignal): Promise<ExecutionOutcome> {
    if (this.stopping) return failure('WORKER_LOST', 'WorkerLost', 'the worker pool is shutting down');
    if (signal.aborted) return abortFailure(signal.reason);
    const worker = await this.acquire(signal);
    if (!worker) return abortFailure(signal.reason);
    return new Promise<ExecutionOutcome>((resolve) => {
      const onAbort = () => {
        // Synchronous user code cannot be interrupted: the worker goes, a fresh one replaces it.
        worker.state = 'retiring';
        finish(abortFailure(signal.reason));
        worker.child.kill('SIGKILL');
      };
      const finish = (outcome: ExecutionOutcome) => {
        if (worker.running?.taskId !== taskId) return;
        signal.removeEventListener('abort', onAbort);
        worker.running = undefined;
        if (worker.state === 'busy') worker.state = 'idle';
        resolve({ ...outcome, workerId: worker.id });
        if (worker.state === 'idle') this.release(worker);
        this.options.onChange?.();
      };
      worker.state = 'busy';
      worker.running = { taskId, finish };
      signal.addEventListener('abort', onAbort, { once: true });
      const message: ParentToWorkerMessage = { type: 'run', taskId, invocation };
      worker.child.send(message, (error) => {
        if (error) {
          worker.state = 'retiring';
          finish(failure('WORKER_LOST', 'WorkerLost', `could not hand the task to worker ${worker.id}: ${error.message}`));
          worker.child.kill('SIGKILL');
        }
      });
      this.options.onChange?.();
    });
  }

  counts(): WorkerCounts {
    const busy = this.workers.filter((w) => w.state === 'busy' || w.state === 'retiring').length;
    return { total: this.options.size, busy, idle: this.options.size - busy };
  }

  pids(): number[] {
    return this.workers.filter((w) => w.state !== 'dead' && w.child.pid !== undefined).map((w) => w.child.pid as number);
  }

  /** Ends every worker: closing IPC lets an idle one exit by itself; SIGKILL for whoever lingers. */
  async stop(graceMs = 2000): Promise<void> {
    this.stopping = true;
    for (const waiter of this.waiters.splice(0)) waiter.grant(undefined as unknown as PoolWorker);
    await Promise.all(
      this.workers.map(async (worker) => {
        if (worker.state === 'dead') return worker.exited;
        try {
          if (worker.child.connected) worker.child.disconnect();
        } catch {
          // already disconnected
        }
        const timer = setTimeout(() => worker.child.kill('SIGKILL'), graceMs);
        await worker.exited;
        clearTimeout(timer);
      }),
    );
  }

  private acquire(signal: AbortSignal): Promise<PoolWorker | undefined> {
    const idle = this.workers.find((w) => w.state === 'idle');
    if (idle) {
      idle.state = 'busy';
      return Promise.resolve(idle);
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        grant: (worker) => {
          signal.removeEventListener('abort', onAbort);
          if (worker) worker.state = 'busy';
          resolve(worker);
        },
      };
      const onAbort = () => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        resolve(undefined);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private release(worker: PoolWorker): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter.grant(worker);
  }

  private spawn(slot: number): Promise<void> {
    const child = fork(this.script, [], {
      execArgv: this.options.execArgv ?? [],
      ...(this.options.env ? { env: { ...process.env, ...this.options.env } } : {}),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    let resolveExited!: () => void;
    const exited = new Promise<void>((resolve) => (resolveExited = resolve));
    const worker: PoolWorker = { id: `w${slot}-${child.pid ?? '?'}`, slot, child, state: 'starting', exited, startedAt: Date.now() };
    this.workers[slot] = worker;

    return new Promise<void>((resolveReady, rejectReady) => {
      const startTimer = setTimeout(() => {
        rejectReady(new WorkerStartError(`worker ${worker.id} did not report ready within ${this.options.startTimeoutMs ?? 15000} ms`));
        child.kill('SIGKILL');
      }, this.options.startTimeoutMs ?? 15000);

      child.on('message', (message: WorkerToParentMessage) => {
        if (message.type === 'ready' && worker.state === 'starting') {
          clearTimeout(startTimer);
          worker.state = 'idle';
          this.respawnFailures[slot] = 0;
          resolveReady();
          this.options.onChange?.();
          this.release(worker);
        } else if (message.type === 'done') {
          const outcome: ExecutionOutcome = message.outcome.ok
            ? { status: 'success', result: JSON.parse(message.outcome.json) as unknown }
            : { status: 'failed', error: message.outcome.error };
          if (worker.running?.taskId === message.taskId) worker.running.finish(outcome);
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
        resolveExited();
        const how = signal ? `was killed by signal ${signal}` : `exited with code ${code}`;
        if (wasStarting) rejectReady(new WorkerStartError(`worker ${worker.id} ${how} before it was ready`));
        if (worker.running) {
          worker.running.finish(failure('WORKER_LOST', 'WorkerLost', `the worker running this task (${worker.id}) ${how}`));
          this.options.log?.(`worker ${worker.id} ${how} while running a task; replacing it`);
        }
        this.options.onChange?.();
        if (this.stopping || this.workers[slot] !== worker) return;
        // A worker that cannot even start would otherwise be respawned in a tight loop.
        const failures = wasStarting ? (this.respawnFailures[slot] ?? 0) + 1 : 0;
        this.respawnFailures[slot] = failures;
        const delay = failures === 0 ? 0 : Math.min(10_000, 100 * 2 ** failures);
        setTimeout(() => {
          if (this.stopping) return;
          this.spawn(slot).catch((error: unknown) => this.options.log?.(error instanceof Error ? error.message : String(error)));
        }, delay).unref();
      });
    });
  }
}
