import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { WorkerCounts } from '@fx/protocol';
import { abortFailure, discardFiles, failure, type ExecutionOutcome } from '../../runtimes/task.errors.js';
import { WorkerSandbox } from '../sandbox/worker.sandbox.js';
import type { Job, JobOptions, PoolWorker, WorkerPoolOptions } from './worker-pool.options.js';
import { nodeWorkerLauncher, type WorkerLauncher } from './worker.launcher.js';
import type { ParentToWorkerMessage, WorkerInvocation, WorkerToParentMessage } from './worker.messages.js';
import { workerOutcome } from './worker.outcome.js';
import { WorkerStartError, startWorkerProcess, stopWorkerProcess } from './worker.process.js';
import { WorkerOutput } from './worker.output.js';
import { silentLogger, type Logger } from '../../agent/logger.js';
import { insertByPriority } from '../../agent/priority-order.js';
import { newJob, watchJobMemory } from './worker-pool.jobs.js';

export { WorkerStartError };
export type { JobOptions, WorkerPoolOptions };

const byPriority = (job: Job) => job.priority;

/**
 * A fixed-size pool of long-lived worker processes (js or python, each linked by a pipe; see
 * WorkerLauncher), each running one task at a time and holding up to `depth` (the next ones wait inside
 * it, which hides the agent round trip between short tasks). A worker that dies fails only the task it was
 * running (WORKER_LOST) and is replaced; the tasks waiting in it never started and go to another worker.
 * A running task that must stop (walltime, cancel) is interrupted when the kind can be (python), its worker
 * killed if it does not come back within the grace; a js worker is killed at once, since synchronous user
 * code cannot be interrupted. A waiting one is withdrawn (`drop`).
 */
export class WorkerPool {
  private readonly workers: PoolWorker[] = [];
  /** Jobs not sent to a worker yet: higher priority first, then oldest first (priority-order.ts). */
  private readonly pending: Job[] = [];
  private readonly launcher: WorkerLauncher;
  private readonly depth: number;
  private stopping = false;
  private readonly respawnFailures: number[] = [];
  private readonly log: Logger;
  private readonly output: WorkerOutput;

  constructor(private readonly options: WorkerPoolOptions) {
    this.log = options.logger ?? silentLogger;
    this.output = options.output ?? new WorkerOutput();
    const script = options.workerScript ?? new URL('./worker.js', import.meta.url);
    this.launcher = options.launcher ?? nodeWorkerLauncher(script instanceof URL ? fileURLToPath(script) : script, options.execArgv);
    this.depth = options.depth ?? 1;
    if (!Number.isInteger(this.depth) || this.depth < 1) throw new RangeError(`depth must be a positive integer, got ${options.depth}`);
  }

  async start(): Promise<void> {
    if (!existsSync(this.launcher.entry)) {
      throw new WorkerStartError(`the worker entry ${this.launcher.entry} does not exist; build fx-endpoint first (npm run build)`);
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

  /**
   * Runs one invocation (of the pool's kind) on a worker. `onStart` is called when it starts running there
   * (at once on an idle worker, later when it waited behind another task).
   */
  run(
    taskId: string,
    invocation: WorkerInvocation,
    signal: AbortSignal,
    onStart?: (workerId: string) => void,
    jobOptions: JobOptions = {},
  ): Promise<ExecutionOutcome> {
    if (this.stopping) return Promise.resolve(failure('WORKER_LOST', 'WorkerLost', 'the worker pool is shutting down'));
    if (signal.aborted) return Promise.resolve(abortFailure(signal.reason));
    return new Promise<ExecutionOutcome>((resolve) => {
      const job = newJob(taskId, invocation, signal, onStart, jobOptions, resolve, (j) => this.abort(j));
      signal.addEventListener('abort', job.onAbort, { once: true });
      insertByPriority(this.pending, job, byPriority);
      this.assign();
    });
  }

  /** Hands waiting tasks to workers again (after `mayStart` may have changed its answer). */
  kick(): void {
    this.assign();
  }

  counts(): WorkerCounts {
    const busy = this.workers.filter((w) => w.state === 'retiring' || w.jobs[0]?.started === true).length;
    return { total: this.options.size, busy, idle: this.options.size - busy };
  }

  pids(): number[] {
    return this.workers.filter((w) => w.state !== 'dead' && w.child.pid !== undefined).map((w) => w.child.pid as number);
  }

  /** What the live workers said they run on (python: version and executable), once one has started. */
  runtime(): { version: string; executable: string } | undefined {
    return this.workers.find((w) => w.state === 'up' && w.runtime)?.runtime;
  }

  /** Ends every worker: closing its link lets an idle one exit by itself; SIGKILL for whoever lingers. */
  async stop(graceMs = 2000): Promise<void> {
    this.stopping = true;
    for (const job of this.pending.splice(0)) this.settle(job, failure('WORKER_LOST', 'WorkerLost', 'the worker pool is shutting down'));
    await Promise.all(this.workers.map((worker) => stopWorkerProcess(worker, graceMs)));
  }

  /**
   * Sends pending jobs: idle workers first (when `mayStart` agrees), then behind running tasks up to
   * `depth`. With nothing pending, an idle worker takes back a task waiting behind another worker's
   * running one, so a long task never keeps short ones waiting while a worker has nothing to do.
   */
  private assign(): void {
    if (this.stopping) return;
    const live = this.workers.filter((w) => w.state === 'up');
    const mine = (w: PoolWorker, job: Job) => (w.owner === undefined || w.owner === job.owner) && !(job.avoid && w.jobs.some((j) => j.taskId === job.avoid));
    let recycling = this.workers.filter((w) => w.state === 'retiring' || w.state === 'starting').length;
    // The owner of a job that waits for a worker serving another owner. Later jobs of other owners then
    // take only idle workers, not places behind running tasks: the busy workers drain and one is replaced
    // for it, instead of one owner's steady stream keeping every worker theirs (fairness between owners).
    let starving: string | undefined;
    for (let i = 0; i < this.pending.length;) {
      const job = this.pending[i] as Job;
      let worker = live.find((w) => w.jobs.length === 0 && mine(w, job));
      if (worker && this.options.mayStart && !this.options.mayStart()) worker = undefined;
      if (!worker && (starving === undefined || starving === job.owner)) {
        const open = live.filter((w) => w.jobs.length > 0 && w.jobs.length < this.depth && w.owner === job.owner && mine(w, job));
        worker = open.sort((a, b) => a.jobs.length - b.jobs.length)[0];
      }
      if (worker) {
        this.pending.splice(i, 1);
        this.send(worker, job);
        continue;
      }
      // Only workers of other owners are free: replace one (a fresh one takes any owner), once per waiting job.
      const other = live.find((w) => w.jobs.length === 0 && !mine(w, job));
      if (other && recycling === 0 && (!this.options.mayStart || this.options.mayStart())) {
        this.log.info('replacing a worker that served another owner before it runs a task', { worker: other.id, taskId: job.taskId });
        this.retire(other);
        recycling++;
      }
      if (starving === undefined && live.some((w) => w.owner !== undefined && w.owner !== job.owner)) starving = job.owner;
      i++;
    }
    if (this.depth === 1) return;
    const idle = live.filter((w) => w.jobs.length === 0);
    let steals = this.workers.reduce((n, w) => n + w.jobs.filter((j) => j.stealing).length, 0);
    while (steals < idle.length && (!this.options.mayStart || this.options.mayStart())) {
      // Never across owners: only a task an idle worker may run is taken back; the most urgent, then the last.
      const stealable = (w: PoolWorker) =>
        w.jobs.reduce<Job | undefined>(
          (best, j, i) =>
            i > 0 && !j.started && !j.dropped && !j.stealing && idle.some((x) => mine(x, j)) && (!best || j.priority >= best.priority) ? j : best,
          undefined,
        );
      const victim = live.filter((w) => stealable(w)).sort((a, b) => b.jobs.length - a.jobs.length)[0];
      const job = victim && stealable(victim);
      if (!victim || !job) {
        // Tasks wait behind a running one that no idle worker may take (they served other owners): replace
        // one idle worker, and the fresh one takes them back.
        const waiting = live.some((w) => w.jobs.some((j, i) => i > 0 && !j.started && !j.dropped && !j.stealing));
        const other = idle.find((w) => w.owner !== undefined);
        if (waiting && other && recycling === 0) {
          this.log.info('replacing a worker that served another owner so that it can take waiting tasks', { worker: other.id });
          this.retire(other);
        }
        return;
      }
      job.stealing = true;
      steals++;
      victim.link.send({ type: 'drop', taskId: job.taskId } satisfies ParentToWorkerMessage);
    }
  }

  private send(worker: PoolWorker, job: Job): void {
    const queued = worker.jobs.length > 0;
    worker.owner = job.owner;
    job.worker = worker;
    // where the worker puts it too: behind the running task, by priority (worker.messages.ts)
    insertByPriority(worker.jobs, job, byPriority, 1);
    const message: ParentToWorkerMessage = {
      type: 'run',
      taskId: job.taskId,
      invocation: job.invocation,
      ...(queued ? { queued: true } : {}),
      priority: job.priority,
    };
    worker.link.send(message, (error) => {
      if (error && worker.state !== 'dead') {
        // The exit handler settles what it held; a job that never arrived goes to another worker.
        this.log.warn(`could not hand a task to its worker: ${error.message}; replacing the worker`, { worker: worker.id, taskId: job.taskId });
        this.retire(worker);
      }
    });
    if (!queued) this.markStarted(job);
    this.options.onChange?.();
  }

  private markStarted(job: Job): void {
    job.started = true;
    if (job.settled) return;
    job.onStart?.(job.worker?.id ?? '');
    const worker = job.worker;
    if (worker)
      watchJobMemory(job, this.log, (outcome) => {
        this.settle(job, outcome);
        this.retire(worker);
      });
  }

  private settle(job: Job, outcome: ExecutionOutcome): void {
    if (job.settled) return discardFiles(outcome);
    job.settled = true;
    job.stopWatch?.();
    job.signal.removeEventListener('abort', job.onAbort);
    job.resolve(job.worker ? { ...outcome, workerId: job.worker.id } : outcome);
  }

  private abort(job: Job): void {
    const outcome = abortFailure(job.signal.reason);
    const worker = job.worker;
    if (!worker) {
      const index = this.pending.indexOf(job);
      if (index >= 0) this.pending.splice(index, 1);
      this.settle(job, outcome);
    } else if (job.started) {
      this.settle(job, outcome);
      const grace = this.launcher.interruptGraceMs;
      if (grace !== undefined && worker.link.connected && worker.jobs[0] === job) {
        // Interrupted (python: KeyboardInterrupt in the task); the worker stays when it reports back in time.
        worker.link.send({ type: 'interrupt', taskId: job.taskId } satisfies ParentToWorkerMessage);
        job.killTimer = setTimeout(() => {
          this.log.warn(`the task did not stop within ${grace} ms of its interrupt; replacing its worker`, { worker: worker.id, taskId: job.taskId });
          this.retire(worker);
        }, grace);
        job.killTimer.unref();
      } else {
        // Synchronous user code cannot be interrupted: the worker goes, a fresh one replaces it.
        this.retire(worker);
      }
    } else {
      job.dropped = true;
      this.settle(job, outcome);
      if (worker.link.connected) worker.link.send({ type: 'drop', taskId: job.taskId } satisfies ParentToWorkerMessage);
    }
    this.options.onChange?.();
  }

  private retire(worker: PoolWorker): void {
    if (worker.state === 'dead' || worker.state === 'retiring') return;
    worker.state = 'retiring';
    worker.child.kill('SIGKILL');
  }

  private forget(worker: PoolWorker, job: Job): void {
    if (job.killTimer) clearTimeout(job.killTimer);
    const index = worker.jobs.indexOf(job);
    if (index >= 0) worker.jobs.splice(index, 1);
  }

  private onMessage(worker: PoolWorker, message: WorkerToParentMessage): void {
    if (message.type === 'ready') return;
    const job = worker.jobs.find((j) => j.taskId === message.taskId);
    if (!job) return;
    switch (message.type) {
      case 'started':
        // The running task is first in `jobs`. Usually it is this one already; not when a more urgent
        // task was sent while the worker was starting this one (the two crossed on the channel).
        if (worker.jobs[0] !== job) worker.jobs.unshift(...worker.jobs.splice(worker.jobs.indexOf(job), 1));
        // A withdrawn task began before the `drop` arrived: nobody wants its outcome, so stop it.
        if (job.dropped) this.retire(worker);
        else this.markStarted(job);
        break;
      case 'live':
        // not a change of state: no onChange, no assign
        if (message.progress) job.live?.progress(message.progress);
        if (message.logs) job.live?.logs(message.logs);
        return;
      case 'done':
        this.forget(worker, job);
        this.settle(job, workerOutcome(message.outcome, job.taskId, { workDir: worker.workDir, owner: worker.uid }));
        break;
      case 'dropped':
        if (job.dropped) {
          this.forget(worker, job);
        } else if (job.stealing) {
          job.stealing = false;
          // Not skipped: it started (or ended) there first, and stays.
          if (message.skipped) {
            this.forget(worker, job);
            job.worker = undefined;
            insertByPriority(this.pending, job, byPriority, 0, true);
          }
        }
        break;
    }
    this.options.onChange?.();
    this.assign();
  }

  /** What a dead worker held: a started task failed WORKER_LOST, the ones waiting in it go to another worker. */
  private reclaimJobs(worker: PoolWorker, how: string): void {
    const jobs = worker.jobs.splice(0);
    const requeue: Job[] = [];
    for (const job of jobs) {
      if (job.killTimer) clearTimeout(job.killTimer);
      if (job.dropped || job.settled) continue;
      if (job.started) {
        this.settle(job, failure('WORKER_LOST', 'WorkerLost', `the worker running this task (${worker.id}) ${how}`));
        this.log.warn(`the worker ${how} while running a task; replacing it`, { worker: worker.id, taskId: job.taskId });
      } else {
        // It waited in the worker and never started: another worker runs it.
        job.worker = undefined;
        job.stealing = false;
        requeue.push(job);
      }
    }
    if (this.stopping) for (const job of requeue) this.settle(job, failure('WORKER_LOST', 'WorkerLost', 'the worker pool is shutting down'));
    else for (const job of requeue.reverse()) insertByPriority(this.pending, job, byPriority, 0, true);
  }

  private async spawn(slot: number): Promise<void> {
    const sandbox = this.options.sandbox ?? new WorkerSandbox();
    const workDir = await sandbox.workDir('fx-worker-');
    if (this.stopping) {
      await sandbox.release(workDir);
      return;
    }
    const { worker, ready } = startWorkerProcess<Job>(
      {
        slot,
        launcher: this.launcher,
        sandbox,
        workDir,
        ...(this.options.env ? { env: this.options.env } : {}),
        startTimeoutMs: this.options.startTimeoutMs ?? 15000,
        output: this.output,
      },
      {
        ready: () => {
          this.respawnFailures[slot] = 0;
          this.options.onChange?.();
          this.assign();
        },
        message: (w, message) => this.onMessage(w, message),
        broken: (w, why) => this.log.warn(`the ${this.launcher.kind} worker ${why}; replacing it`, { worker: w.id, taskId: w.jobs[0]?.taskId }),
        exit: (w, how, wasStarting) => this.onWorkerExit(w, how, wasStarting),
      },
    );
    this.workers[slot] = worker;
    return ready;
  }

  private onWorkerExit(worker: PoolWorker, how: string, wasStarting: boolean): void {
    const slot = worker.slot;
    this.reclaimJobs(worker, how);
    this.options.onChange?.();
    if (this.stopping || this.workers[slot] !== worker) return;
    // A worker that cannot even start would otherwise be respawned in a tight loop.
    const failures = wasStarting ? (this.respawnFailures[slot] ?? 0) + 1 : 0;
    this.respawnFailures[slot] = failures;
    const delay = failures === 0 ? 0 : Math.min(10_000, 100 * 2 ** failures);
    setTimeout(() => {
      if (this.stopping) return;
      this.spawn(slot).catch((error: unknown) => this.log.error(error instanceof Error ? error.message : String(error), { slot }));
    }, delay).unref();
  }
}
