import type { TaskSpec } from '@fx/protocol';
import { runShell } from '../../runtimes/shell/shell.runtime.js';
import { failure, type ExecutionOutcome } from '../../runtimes/task.errors.js';
import type { Provider, ProviderStatus, SubmitContext } from '../provider.js';
import { WorkerPool } from './worker.pool.js';

export interface LocalProviderOptions {
  /** Worker slots: js worker processes, and the most tasks (js and shell together) running at once. */
  workers: number;
  /**
   * Keep the last this-many lines of a shell task's stdout and stderr.
   * @default 1000
   */
  shellOutputLines?: number;
  /**
   * Where shell tasks get their per-task working directories.
   * @default os.tmpdir()
   */
  workRoot?: string;
  /**
   * The compiled js worker entry.
   * @default new URL('./worker.js', import.meta.url)
   */
  workerScript?: string | URL;
  /** Called whenever the processes doing work change, so the agent can refresh its status file. */
  onChange?: () => void;
  log?: (message: string) => void;
}

/**
 * Runs tasks on this machine: js tasks in a pool of forked workers, shell tasks as child processes of the
 * agent (each in its own process group). Both kinds share the same `workers` slots.
 */
export class LocalProvider implements Provider {
  readonly name = 'local';
  private readonly pool: WorkerPool;
  private readonly shellGroups = new Set<number>();
  private shellRunning = 0;

  constructor(private readonly options: LocalProviderOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) {
      throw new RangeError(`workers must be a positive integer, got ${options.workers}`);
    }
    this.pool = new WorkerPool({ size: options.workers, workerScript: options.workerScript, onChange: options.onChange, log: options.log });
  }

  start(): Promise<void> {
    return this.pool.start();
  }

  async stop(): Promise<void> {
    for (const pgid of this.shellGroups) killGroup(pgid);
    await this.pool.stop();
  }

  capacity(): number {
    return this.options.workers;
  }

  async submit(task: TaskSpec, signal: AbortSignal, context: SubmitContext): Promise<ExecutionOutcome> {
    const fn = task.function;
    if ((task.resources?.gpus ?? 0) > 0) {
      return failure('RESOURCES_UNAVAILABLE', 'ResourcesUnavailable', `the task asks for ${task.resources?.gpus} GPU(s); this endpoint pins no accelerators (set "accelerators" in config.yaml)`);
    }
    switch (fn.runtime) {
      case 'js':
        return this.pool.run(
          task.taskId,
          { source: fn.source, contentHash: fn.contentHash, args: task.args, kwargs: task.kwargs, maxResultBytes: context.maxResultBytes },
          signal,
        );
      case 'shell':
        return this.runShellTask(task, signal, context);
      default:
        return failure('RUNTIME_UNSUPPORTED', 'RuntimeUnsupported', `this endpoint cannot run the "${String(fn.runtime)}" runtime`);
    }
  }

  status(): ProviderStatus {
    const pool = this.pool.counts();
    const busy = Math.min(pool.total, pool.busy + this.shellRunning);
    return { workers: { total: pool.total, busy, idle: pool.total - busy }, pids: this.pool.pids(), processGroups: [...this.shellGroups] };
  }

  private async runShellTask(task: TaskSpec, signal: AbortSignal, context: SubmitContext): Promise<ExecutionOutcome> {
    this.shellRunning++;
    let group: number | undefined;
    try {
      const outcome = await runShell({ template: task.function.source, kwargs: task.kwargs }, signal, {
        outputLines: this.options.shellOutputLines,
        workRoot: this.options.workRoot,
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
          return failure('RESULT_TOO_LARGE', 'ResultTooLarge', `the shell result is ${bytes} bytes as JSON, more than the ${context.maxResultBytes} bytes allowed`);
        }
      }
      return outcome;
    } finally {
      this.shellRunning--;
      if (group !== undefined) this.shellGroups.delete(group);
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
