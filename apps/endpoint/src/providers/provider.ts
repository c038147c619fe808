import type { BlockReport, PythonReport, TaskSpec, WorkerCounts } from '@fx/protocol';
import type { ObjectPlacement } from '../objects/object.placement.js';
import type { ExecutionOutcome } from '../runtimes/task.errors.js';
import type { WorkerLogs, WorkerProgress } from '../runtimes/js/js.live.js';

export type { ExecutionOutcome };

/**
 * Where a running task's live streams go (the agent's LiveStreams, which coalesces and bounds them):
 * its latest progress value (seq counts its emits) and what it printed, in order. Cheap to call often.
 */
export interface LiveSink {
  progress(p: WorkerProgress): void;
  logs(chunks: WorkerLogs[]): void;
}

/** What the agent tells a provider about one submission besides the task itself. */
export interface SubmitContext {
  /**
   * Results larger than this fail with RESULT_TOO_LARGE: as JSON when they travel inline (the server's
   * `welcome.maxResultBytes`), as bytes when results may become objects (the agent's `objects.maxResultMB`).
   */
  maxResultBytes: number;
  /**
   * Set when results may become objects: a result whose JSON is larger than this, or one returned as
   * bytes, comes back as a file (ExecutionOutcome.resultFile) that the agent stores as an object.
   */
  inlineResultBytes?: number;
  /** Every result comes back as a file (the task has an outputName): it is stored under that name. */
  resultToFile?: boolean;
  /** Where the contents of the task's object references lie, and where in its arguments they go (TaskInputs). */
  objects?: ObjectPlacement[];
  /**
   * For providers that `startsLater`: called when the task actually starts on a worker (the agent then
   * reports it running and starts its walltime clock).
   */
  onStart?: (workerId: string) => void;
  /** Where the task's progress and printed text go while it runs; absent: nowhere. */
  live?: LiveSink;
}

/** What a worker invocation takes from a submission: the result limits and routing, and the task's objects. */
export function invocationExtras(context: Omit<SubmitContext, 'onStart' | 'live'>): {
  maxResultBytes: number;
  inlineResultBytes?: number;
  resultToFile?: boolean;
  objects?: ObjectPlacement[];
} {
  return {
    maxResultBytes: context.maxResultBytes,
    ...(context.inlineResultBytes !== undefined ? { inlineResultBytes: context.inlineResultBytes } : {}),
    ...(context.resultToFile ? { resultToFile: true } : {}),
    ...(context.objects && context.objects.length > 0 ? { objects: context.objects } : {}),
  };
}

/**
 * A provider rejects `submit` with this when the task was running on something that went away (an HPC
 * block ended by walltime, node failure or scancel). The agent hands the task back to the server, which
 * requeues it with `attempt + 1`.
 */
export class TaskLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskLost';
  }
}

/** One HPC block (pilot job), as `fx-endpoint status` shows it. */
export interface BlockStatus {
  id: string;
  jobId?: string;
  /** FX's view: submitting, pending, running, cancelling, ended. */
  state: string;
  /** The scheduler's job state from the last poll (PENDING, RUNNING, …). */
  schedulerState?: string;
  nodes: string[];
  workers: number;
  busy: number;
}

/** One accelerator and the worker pinned to it. */
export interface DeviceStatus {
  device: string;
  worker: string;
  busy: boolean;
}

export interface ProviderStatus {
  workers: WorkerCounts;
  /** Processes that carry out tasks (workers), so that `stop --force` can end them even if the agent is gone. */
  pids: number[];
  /** Process groups of running shell tasks, for the same reason. */
  processGroups: number[];
  /** HPC providers: their blocks. */
  blocks?: BlockStatus[];
  /** Pinned accelerators and which worker holds each. */
  devices?: DeviceStatus[];
  /** Accelerator detection note (e.g. "auto: nvidia-smi not found, no GPUs"). */
  acceleratorNote?: string;
  /** What task processes run under (see config.yaml's `sandbox:`; WorkerSandbox.reported). */
  sandbox?: 'bwrap' | 'bwrap-userns' | 'uid' | 'none';
  /** Why tasks are not sandboxed, when they are not. */
  sandboxNote?: string;
  /** The Python of its python workers (or why there is none); absent until probed. */
  python?: PythonReport;
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
  /**
   * How many tasks the agent may hand over at once. At most this many run at once; a provider that lets
   * tasks wait inside it (for a block, behind a worker's running task) says so with `startsLater`.
   */
  capacity(): number;
  /**
   * True when `submit` may wait (for a block to start, for a worker) before the task runs: the agent then waits for
   * `context.onStart` before it reports the task running and starts its walltime clock.
   */
  readonly startsLater?: boolean;
  /**
   * Runs one task to an outcome. Never rejects for a task's own failure (that is a failed outcome); the
   * signal carries walltime expiry and cancellation (see WalltimeExceededError, TaskCancelledError).
   */
  submit(task: TaskSpec, signal: AbortSignal, context: SubmitContext): Promise<ExecutionOutcome>;
  status(): ProviderStatus;
  /**
   * HPC providers: their blocks' accounting for a heartbeat (live ones, then the latest ended ones; see
   * usage.ts). Called once per heartbeat tick: a provider may count what it has reported. Against a server
   * that takes pongs for heartbeats, a tick whose status did not change sends nothing (HeartbeatPacer): a
   * report that appears or changes is sent at its first tick, repeats of it only every 6th.
   */
  blockReports?(): BlockReport[];
}
