import type { Logger } from '../../agent/logger.js';
import type { LiveSink } from '../provider.js';
import type { ExecutionOutcome } from '../../runtimes/task.errors.js';
import type { WorkerSandbox } from '../sandbox/worker.sandbox.js';
import type { WorkerLauncher } from './worker.launcher.js';
import type { WorkerInvocation } from './worker.messages.js';
import type { WorkerProcess } from './worker.process.js';
import type { WorkerOutput } from './worker.output.js';

export interface WorkerPoolOptions {
  /** How many worker processes to keep. */
  size: number;
  /**
   * What the workers are and how they start (js or python).
   * @default the js worker: nodeWorkerLauncher(workerScript, execArgv)
   */
  launcher?: WorkerLauncher;
  /**
   * The compiled js worker entry (without `launcher`). Tests that run from TypeScript sources point this at `dist/`.
   * @default new URL('./worker.js', import.meta.url)
   */
  workerScript?: string | URL;
  /**
   * Node flags for js workers (without `launcher`). Not inherited from the agent: a test runner's flags have no business there.
   * @default []
   */
  execArgv?: string[];
  /**
   * How long a worker may take to report ready.
   * @default 15000
   */
  startTimeoutMs?: number;
  /**
   * Tasks one worker may hold: the one it runs and the rest waiting in it, so that it starts its next
   * task without waiting for a round trip to the agent. Each worker still runs one task at a time.
   * @default 1
   */
  depth?: number;
  /**
   * Asked before a task goes to an idle worker (one more task running at once); false holds the task
   * until `kick()`. Lets a provider share its slots between these workers and other work.
   * @default always true
   */
  mayStart?: () => boolean;
  /** Extra environment for every worker (e.g. CUDA_VISIBLE_DEVICES of a pinned worker). @default none */
  env?: Record<string, string>;
  /**
   * How workers start: scrubbed environment and private directory always; bwrap or a uid of its own when set.
   * @default new WorkerSandbox() (no sandbox, but still a scrubbed environment and a private directory)
   */
  sandbox?: WorkerSandbox;
  /**
   * Where the workers' stdout and stderr go, bounded (worker.output.ts).
   * @default the agent's own stdout and stderr
   */
  output?: WorkerOutput;
  /** Called when the set of worker processes changes (a worker started, died or was replaced). */
  onChange?: () => void;
  /** Told of notable events (a worker died, was replaced), with the task's id. @default silent */
  logger?: Logger;
}

/** What a task brings to the pool besides its invocation. */
/** How a pool runs one job: see WorkerPool.run. */
export type RunJob<I extends WorkerInvocation> = (
  taskId: string,
  invocation: I,
  signal: AbortSignal,
  onStart?: (workerId: string) => void,
  jobOptions?: JobOptions,
) => Promise<ExecutionOutcome>;

export interface JobOptions {
  /** Whose task and code it is (see isolationKey): a worker runs tasks of one owner only (absent: the "unknown" owner). */
  ownerId?: string;
  /** Fails the task MEMORY_EXCEEDED (and replaces the worker) when the worker passes this many bytes. */
  memoryBytes?: number;
  /** 0–9: waiting tasks start highest first, in the pool and inside each worker. @default 5 */
  priority?: number;
  /** Where its progress and printed text go while it runs. */
  live?: LiveSink;
  /** Never on a worker holding the job of this id (a speculative copy avoids its original's worker). */
  avoid?: string;
}

/** One task handed to the pool, from `run` until its outcome is delivered. */
export interface Job {
  taskId: string;
  /** See JobOptions.avoid. */
  avoid?: string;
  owner: string;
  priority: number;
  memoryBytes?: number;
  stopWatch?: () => void;
  invocation: WorkerInvocation;
  signal: AbortSignal;
  onStart?: (workerId: string) => void;
  live?: LiveSink;
  resolve: (outcome: ExecutionOutcome) => void;
  onAbort: () => void;
  settled: boolean;
  /** The worker holding it, if sent. */
  worker?: PoolWorker;
  started: boolean;
  /** Aborted before it started: settled already, kept until the worker confirms it skipped it. */
  dropped: boolean;
  /** Asked back from its worker for an idle one (work stealing); it runs where the answer says. */
  stealing: boolean;
  /** Interrupted while running (settled already): its worker is killed if it has not reported back by then. */
  killTimer?: NodeJS.Timeout;
}

export type PoolWorker = WorkerProcess<Job>;
