import { MAX_TASK_PRIORITY, type TaskSpec } from '@fx/protocol';
import { runShell, shellInvocation } from '../../runtimes/shell/shell.runtime.js';
import { abortFailure, failure, keepingUsage, type ExecutionOutcome } from '../../runtimes/task.errors.js';
import { DEFAULT_TASK_LIMITS, taskMemoryBytes, type TaskLimits } from '../../config/task-limits.js';
import { WorkerSandbox } from '../sandbox/worker.sandbox.js';
import { invocationExtras, type Provider, type ProviderStatus, type SubmitContext } from '../provider.js';
import { WorkerPool } from './worker.pool.js';
import type { JobOptions } from './worker-pool.options.js';
import { PythonWorkers } from './python.workers.js';
import { pythonInvocation } from '../../runtimes/python/python.runtime.js';
import { isolationKey } from '../isolation.js';
import { insertByPriority, priorityOf } from '../../agent/priority-order.js';
import type { Logger } from '../../agent/logger.js';

export interface LocalProviderOptions {
  /** Worker slots: js (and, once a python task comes, python) worker processes, and the most tasks of all runtimes running at once. */
  workers: number;
  /**
   * Keep the last this-many lines of a shell or python task's stdout and stderr.
   * @default 1000
   */
  shellOutputLines?: number;
  /** The interpreter of python workers (config.yaml's `python:`). @default DEFAULT_PYTHON */
  python?: string;
  /**
   * Where shell tasks get their per-task working directories (never under FX_HOME).
   * @default os.tmpdir()
   */
  workRoot?: string;
  /** How workers and shell tasks are started (scrubbed environment, private dirs, bwrap or a uid of their own). */
  sandbox?: WorkerSandbox;
  /** Memory limits of every task (walltime is the agent's). @default DEFAULT_TASK_LIMITS */
  taskLimits?: TaskLimits;
  /**
   * The compiled js worker entry.
   * @default new URL('./worker.js', import.meta.url)
   */
  workerScript?: string | URL;
  /** Called whenever the processes doing work change, so the agent can refresh its status file. */
  onChange?: () => void;
  /** What the pool has to say (a worker replaced, a task over its memory). @default silent */
  logger?: Logger;
}

/**
 * Tasks each js worker may hold (one running, the rest waiting in it): the worker starts its next short
 * task without a round trip to the agent, which on a busy machine costs more than the task (no-op
 * throughput on 2 cores, 2 workers: depth 1 ≈ 1,000/s, 2 ≈ 1,400/s, 8 ≈ 2,300/s, 16 ≈ 2,800/s). Tasks
 * still run one at a time per worker and no more than `workers` at once; a worker with nothing to do
 * takes back what waits behind another's running task (see WorkerPool), so a long task holds up nothing.
 */
export const LOCAL_WORKER_DEPTH = 16;

/** A pool job's id: a speculative copy runs beside its original, so it needs an id of its own. */
const jobId = (task: TaskSpec) => (task.copy ? `${task.taskId}-copy` : task.taskId);

/** A speculative copy starts next wherever it goes (highest priority), and never on the worker that runs its original. */
const copyPlacement = (task: TaskSpec): Pick<JobOptions, 'priority' | 'avoid'> =>
  task.copy ? { priority: MAX_TASK_PRIORITY, avoid: task.taskId } : { priority: priorityOf(task) };

/**
 * Runs tasks on this machine: js tasks in a pool of forked workers, python tasks in a pool of python
 * workers (started with the first python task), shell tasks as child processes of the agent (each in its
 * own process group). All share the same `workers` slots: at most `workers` tasks run at once, whatever
 * their runtime. The agent may hand over up to `workers × LOCAL_WORKER_DEPTH`; the rest wait here (inside
 * a worker, or for a slot) and report their start when they begin.
 */
export class LocalProvider implements Provider {
  readonly name = 'local';
  readonly startsLater = true;
  private readonly pool: WorkerPool;
  private readonly python: PythonWorkers;
  private kickScheduled = false;
  private readonly shellGroups = new Set<number>();
  private shellRunning = 0;
  /** Shell tasks waiting for a slot, by priority (priority-order.ts). */
  private readonly shellWaiters: Array<{ grant: () => void; priority: number }> = [];
  private readonly sandbox: WorkerSandbox;
  private readonly memoryBytes: number;

  constructor(private readonly options: LocalProviderOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) {
      throw new RangeError(`workers must be a positive integer, got ${options.workers}`);
    }
    this.sandbox = options.sandbox ?? new WorkerSandbox();
    const limits = options.taskLimits ?? DEFAULT_TASK_LIMITS;
    this.memoryBytes = taskMemoryBytes(limits);
    const shared = {
      size: options.workers,
      sandbox: this.sandbox,
      depth: LOCAL_WORKER_DEPTH,
      // A waiting shell task gets the next free slot before more js or python does.
      mayStart: () => this.running() + this.shellWaiters.length < options.workers,
      onChange: () => {
        this.wakeShell();
        // a slot freed by one pool may let the other start a task (later: never inside the pool's own loop)
        this.kickLater();
        options.onChange?.();
      },
      ...(options.logger ? { logger: options.logger } : {}),
    };
    this.pool = new WorkerPool({ ...shared, execArgv: [`--max-old-space-size=${limits.memoryMB.max}`], workerScript: options.workerScript });
    this.python = new PythonWorkers({
      ...shared,
      ...(options.python !== undefined ? { python: options.python } : {}),
      ...(options.shellOutputLines !== undefined ? { outputLines: options.shellOutputLines } : {}),
    });
  }

  start(): Promise<void> {
    this.python.probeInBackground();
    return this.pool.start();
  }

  async stop(): Promise<void> {
    for (const pgid of this.shellGroups) killGroup(pgid);
    await Promise.all([this.pool.stop(), this.python.stop()]);
  }

  capacity(): number {
    return this.options.workers * LOCAL_WORKER_DEPTH;
  }

  async submit(task: TaskSpec, signal: AbortSignal, context: SubmitContext): Promise<ExecutionOutcome> {
    const fn = task.function;
    if ((task.resources?.gpus ?? 0) > 0) {
      return failure(
        'RESOURCES_UNAVAILABLE',
        'ResourcesUnavailable',
        `the task asks for ${task.resources?.gpus} GPU(s); this endpoint pins no accelerators (set "accelerators" in config.yaml)`,
      );
    }
    switch (fn.runtime) {
      case 'js':
        return this.pool.run(
          jobId(task),
          { source: fn.source, contentHash: fn.contentHash, args: task.args, kwargs: task.kwargs, ...invocationExtras(context) },
          signal,
          context.onStart,
          { ownerId: isolationKey(task), memoryBytes: this.memoryBytes, ...copyPlacement(task), ...(context.live ? { live: context.live } : {}) },
        );
      case 'python':
        return this.python.run(jobId(task), pythonInvocation(task, context), signal, context.onStart, {
          ownerId: isolationKey(task),
          memoryBytes: this.memoryBytes,
          ...copyPlacement(task),
          ...(context.live ? { live: context.live } : {}),
        });
      case 'shell':
        return this.runShellTask(task, signal, context);
      default:
        return failure('RUNTIME_UNSUPPORTED', 'RuntimeUnsupported', `this endpoint cannot run the "${String(fn.runtime)}" runtime`);
    }
  }

  status(): ProviderStatus {
    const pool = this.pool.counts();
    const busy = Math.min(pool.total, this.running());
    const python = this.python.report();
    return {
      workers: { total: pool.total, busy, idle: pool.total - busy },
      pids: [...this.pool.pids(), ...this.python.pids()],
      processGroups: [...this.shellGroups],
      sandbox: this.sandbox.reported,
      ...(this.sandbox.note ? { sandboxNote: this.sandbox.note } : {}),
      ...(python ? { python } : {}),
    };
  }

  /** Tasks running now: js and python workers with a task started, and shell tasks. */
  private running(): number {
    return this.pool.counts().busy + this.python.counts().busy + this.shellRunning;
  }

  private kickLater(): void {
    if (this.kickScheduled) return;
    this.kickScheduled = true;
    queueMicrotask(() => {
      this.kickScheduled = false;
      this.pool.kick();
      this.python.kick();
    });
  }

  private wakeShell(): void {
    while (this.shellWaiters.length > 0 && this.running() < this.options.workers) {
      this.shellWaiters.shift()!.grant();
    }
  }

  /** Resolves true once a slot is this shell task's (counted in shellRunning), false if aborted first. */
  private shellSlot(signal: AbortSignal, priority: number): Promise<boolean> {
    if (this.running() < this.options.workers && this.shellWaiters.length === 0) {
      this.shellRunning++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        this.shellRunning++;
        resolve(true);
      };
      const onAbort = () => {
        const index = this.shellWaiters.findIndex((w) => w.grant === grant);
        if (index >= 0) this.shellWaiters.splice(index, 1);
        this.kickLater();
        resolve(false);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      insertByPriority(this.shellWaiters, { grant, priority }, (w) => w.priority);
    });
  }

  private async runShellTask(task: TaskSpec, signal: AbortSignal, context: SubmitContext): Promise<ExecutionOutcome> {
    if (signal.aborted || !(await this.shellSlot(signal, priorityOf(task)))) return abortFailure(signal.reason);
    context.onStart?.('shell');
    let group: number | undefined;
    try {
      const outcome = await runShell(shellInvocation(task, context), signal, {
        outputLines: this.options.shellOutputLines,
        sandbox: this.sandbox,
        memoryBytes: this.memoryBytes,
        ...(this.options.workRoot ? { workRoot: this.options.workRoot } : {}),
        onProcessGroup: (pgid) => {
          if (group !== undefined) this.shellGroups.delete(group);
          group = pgid;
          if (pgid !== undefined) this.shellGroups.add(pgid);
          this.options.onChange?.();
        },
      });
      if (outcome.status === 'success') {
        const bytes = Buffer.byteLength(JSON.stringify(outcome.result), 'utf8');
        if (bytes > context.maxResultBytes) {
          return keepingUsage(
            outcome,
            failure('RESULT_TOO_LARGE', 'ResultTooLarge', `the shell result is ${bytes} bytes as JSON, more than the ${context.maxResultBytes} bytes allowed`),
          );
        }
      }
      return outcome;
    } finally {
      this.shellRunning--;
      if (group !== undefined) this.shellGroups.delete(group);
      this.wakeShell();
      this.kickLater();
    }
  }
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}
