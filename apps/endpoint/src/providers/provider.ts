import type { TaskSpec, WorkerCounts } from '@fx/protocol';
import type { ExecutionOutcome } from '../runtimes/task.errors.js';

export type { ExecutionOutcome };

/** What the agent tells a provider about one submission besides the task itself. */
export interface SubmitContext {
  /** Results larger than this (as JSON) fail with RESULT_TOO_LARGE; the server says so in `welcome`. */
  maxResultBytes: number;
}

export interface ProviderStatus {
  workers: WorkerCounts;
  /** Processes that carry out tasks (workers), so that `stop --force` can end them even if the agent is gone. */
  pids: number[];
  /** Process groups of running shell tasks, for the same reason. */
  processGroups: number[];
}

/**
 * Where tasks run. The agent owns queueing, credits and walltime; a provider only runs what it is handed,
 * at most `capacity()` at a time, and reports what it is doing. A provider for a batch scheduler (Slurm,
 * a GPU node pool) implements the same interface by scaling blocks of workers behind `submit`.
 */
export interface Provider {
  /** Shown in heartbeats, e.g. `local`. */
  readonly name: string;
  /** Brings workers up; rejects with a sentence when they cannot start. */
  start(): Promise<void>;
  /**
   * Ends every worker. Running tasks are not waited for: the agent drains before it calls this, so what
   * is still running here has run out of drain time.
   */
  stop(): Promise<void>;
  /** How many tasks may run at once. */
  capacity(): number;
  /**
   * Runs one task to an outcome. Never rejects for a task's own failure (that is a failed outcome); the
   * signal carries walltime expiry and cancellation (see WalltimeExceededError, TaskCancelledError).
   */
  submit(task: TaskSpec, signal: AbortSignal, context: SubmitContext): Promise<ExecutionOutcome>;
  status(): ProviderStatus;
}
