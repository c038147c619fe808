import { failure, type ExecutionOutcome } from '../../runtimes/task.errors.js';
import { watchMemory } from '../sandbox/memory.watch.js';
import type { Logger } from '../../agent/logger.js';
import { priorityOf } from '../../agent/priority-order.js';
import type { Job, JobOptions } from './worker-pool.options.js';
import type { WorkerInvocation } from './worker.messages.js';

const UNKNOWN_OWNER = 'unknown';

/** A job as WorkerPool.run takes it in: not sent, not started; `onAbort` is the pool's handler of its signal. */
export function newJob(
  taskId: string,
  invocation: WorkerInvocation,
  signal: AbortSignal,
  onStart: ((workerId: string) => void) | undefined,
  jobOptions: JobOptions,
  resolve: (outcome: ExecutionOutcome) => void,
  onAbort: (job: Job) => void,
): Job {
  const job: Job = {
    taskId,
    ...(jobOptions.avoid !== undefined ? { avoid: jobOptions.avoid } : {}),
    owner: jobOptions.ownerId ?? UNKNOWN_OWNER,
    priority: priorityOf(jobOptions),
    memoryBytes: jobOptions.memoryBytes,
    invocation,
    signal,
    onStart,
    ...(jobOptions.live ? { live: jobOptions.live } : {}),
    resolve,
    onAbort: () => onAbort(job),
    settled: false,
    started: false,
    dropped: false,
    stealing: false,
  };
  return job;
}

/**
 * Watches the memory of the worker running a job that has a limit (`stopWatch` ends it): past the
 * limit, while the job still runs there, `exceeded` gets its MEMORY_EXCEEDED outcome (the pool settles
 * it and replaces the worker).
 */
export function watchJobMemory(job: Job, log: Logger, exceeded: (outcome: ExecutionOutcome) => void): void {
  const worker = job.worker;
  const pid = worker?.child.pid;
  if (!worker || pid === undefined || job.memoryBytes === undefined) return;
  const limit = job.memoryBytes;
  job.stopWatch = watchMemory(pid, limit, (bytes) => {
    if (job.settled || worker.jobs[0] !== job) return;
    log.warn(`the task used ${Math.round(bytes / 1048576)} MB, more than its ${Math.round(limit / 1048576)} MB; replacing the worker`, {
      worker: worker.id,
      taskId: job.taskId,
    });
    exceeded(
      failure(
        'MEMORY_EXCEEDED',
        'MemoryExceeded',
        `the task used ${Math.round(bytes / 1048576)} MB of memory, more than the ${Math.round(limit / 1048576)} MB allowed (taskLimits.memoryMB)`,
      ),
    );
  });
}
