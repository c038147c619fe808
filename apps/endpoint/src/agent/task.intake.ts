import { DEFAULT_LIMITS, FunctionSpecCache, functionsOf, type TaskResult, type TaskSpec, type TasksPayload, type WelcomePayload } from '@fx/protocol';
import { taskWalltimeSeconds, type TaskLimits } from '../config/task-limits.js';
import type { LiveStreams } from './live.streams.js';
import type { EndpointObjects } from '../objects/endpoint.objects.js';
import { TaskLostError, type Provider } from '../providers/provider.js';
import {
  TaskCancelledError,
  WalltimeExceededError,
  abortFailure,
  discardFiles,
  failure,
  toRemoteError,
  type ExecutionOutcome,
} from '../runtimes/task.errors.js';
import { AgentState } from './agent.state.js';
import type { Logger } from './logger.js';
import { FairOrder } from './fair-order.js';
import { runKey } from './run-key.js';
import { facts, finishedLine, startedLine } from './task-line.text.js';
import { TaskAdmission } from './task.admission.js';
import { attemptUsage } from './attempt-usage.js';
import { boundOutcome } from './outcome.bounds.js';

/** Where the intake reports what became of its tasks (the outbox, which tells the server). */
export interface TaskReports {
  /** The task (or its speculative copy) began running at `at` (ms). */
  started(taskId: string, at: number, copy?: boolean): void;
  finished(result: TaskResult): void;
  /** What ran the task went away: it is handed back to the server. */
  lost(taskId: string): void;
  /** Something is due to the server (a start, freed capacity): send it soon. */
  due(): void;
}

export interface TaskIntakeOptions {
  provider: Provider;
  /** @default DEFAULT_TASK_LIMITS */
  taskLimits?: TaskLimits;
  /** Names the endpoint in refusals. */
  endpointLabel: string;
  log: Logger;
  reports: TaskReports;
  /** The agent's state: tasks are taken while RUNNING or CONNECTING, refused while DRAINING. */
  state: () => AgentState;
  /** Something observable changed (tasks held). */
  changed: () => void;
  /** Data by reference: inputs fetched before a task runs, results stored as objects. Absent: neither. */
  objects?: EndpointObjects;
  /**
   * Where running tasks' progress and printed text go (sent as `stream` frames), and the agent's lines
   * about them (logged with `taskId` through `log`, see TaskLines). Absent: nowhere.
   */
  live?: LiveStreams;
}

interface RunningTask {
  task: TaskSpec;
  controller: AbortController;
  startedAt: number;
  /** Where it started (the provider's onStart), for the lines about it. */
  workerId?: string;
  /** It began on a worker (at startedAt). */
  began?: boolean;
  /** What its worker measured and held, from the provider's outcome (before its result is stored). */
  account?: Pick<ExecutionOutcome, 'usage' | 'held'>;
  walltimeTimer?: NodeJS.Timeout;
  /** Lets go of the task's objects (cache pins, staged files) once its result is stored. */
  release?: () => Promise<void>;
}

/**
 * The tasks this agent holds: queued until a worker slot is free, then run on the provider under their
 * walltime, each checked first against the endpoint's allowed functions and its content hash. Cancels
 * abort them through their AbortSignal.
 */
export class TaskIntake {
  /** Higher priority first, then in arrival order (priority-order.ts): the agent prefetches hundreds. */
  private readonly queue: TaskSpec[] = [];
  /** The queue's order: by priority, fair between owners within one. */
  private readonly order = new FairOrder<TaskSpec>();
  /** Run keys (runKey) in `queue`, for the duplicate check (a scan of the queue per task would be quadratic). */
  private readonly queuedIds = new Set<string>();
  /** By run key: a task and its speculative copy run side by side, as two runs. */
  private readonly runs = new Map<string, RunningTask>();
  /** Function specs sent on this connection (the server sends each source once; see resolve). */
  private readonly functionSpecs = new FunctionSpecCache();
  /** The allow-list, content hash and runtime checks before a task runs. */
  private readonly admission: TaskAdmission;
  private maxResultBytes: number = DEFAULT_LIMITS.maxResultBytes;
  private inlineResultBytes = 1024 * 1024;

  constructor(private readonly options: TaskIntakeOptions) {
    this.admission = new TaskAdmission(options.endpointLabel);
  }

  get queued(): number {
    return this.queue.length;
  }

  get running(): number {
    return this.runs.size;
  }

  isRunning(taskId: string, copy?: boolean): boolean {
    return this.runs.has(runKey(taskId, copy));
  }

  /** The attempt of the task running here (not its copy), for lines about it that do not name one. */
  attemptOf(taskId: string): number | undefined {
    return this.runs.get(taskId)?.task.attempt;
  }

  /** Task ids queued, then running; a speculative copy's too (its lease is the server's to keep or end). */
  *ids(): Iterable<string> {
    for (const task of this.queue) yield task.taskId;
    for (const run of this.runs.values()) yield run.task.taskId;
  }

  /** Takes the limits a `welcome` sets. */
  welcome(welcome: WelcomePayload): void {
    this.maxResultBytes = welcome.maxResultBytes;
    // Never more than the server takes inline: past either, a result travels as an object.
    this.inlineResultBytes = Math.min(welcome.inlineResultBytes, welcome.maxResultBytes);
    this.admission.allow(welcome.allowedFunctions);
    this.admission.owner(welcome.ownerId, this.options.provider.status().sandbox);
  }

  /** A `tasks` frame: queues its tasks (not while draining) and starts what free slots allow. */
  receive(payload: TasksPayload): void {
    const tasks = this.resolve(payload);
    if (this.options.state() === AgentState.DRAINING) {
      // Sent on credits granted before the drain began: left for the server to hand out again.
      this.options.log.info(`draining: not taking ${tasks.length} new tasks`);
      return;
    }
    for (const task of tasks) {
      const key = runKey(task.taskId, task.copy);
      if (this.runs.has(key) || this.queuedIds.has(key)) {
        this.options.log.warn('the task was sent again while this agent still holds it; ignoring the copy', facts(task));
        continue;
      }
      // a speculative copy rescues a straggler: it goes first, whatever waits
      if (task.copy) this.queue.unshift(task);
      else this.order.insert(this.queue, task);
      this.queuedIds.add(key);
      this.options.log.info(task.copy ? 'received its speculative copy, queued first' : 'received, queued', facts(task));
    }
    this.pump();
    this.options.reports.due();
  }

  /**
   * Drops queued tasks and aborts running ones with TaskCancelledError(why): no result is owed for them.
   * `copy`: only their speculative copies (true), only the originals (false), or both (absent).
   */
  cancel(taskIds: string[], why: string, copy?: boolean): void {
    const keys = new Set(taskIds.flatMap((id) => (copy === undefined ? [runKey(id), runKey(id, true)] : [runKey(id, copy)])));
    const before = this.queue.length;
    const kept: TaskSpec[] = [];
    for (const t of this.queue) {
      if (!keys.has(runKey(t.taskId, t.copy))) kept.push(t);
      else this.forget(t, 'debug', `cancelled while queued: ${why}`);
    }
    this.queue.splice(0, this.queue.length, ...kept);
    for (const key of keys) this.queuedIds.delete(key);
    let aborted = 0;
    for (const key of keys) {
      const run = this.runs.get(key);
      if (run) {
        this.options.log.info(`cancelled: ${why}`, facts(run.task));
        run.controller.abort(new TaskCancelledError(why));
        aborted++;
      }
    }
    if (before !== kept.length || aborted > 0) this.options.log.info(`cancelled ${before - kept.length} queued and ${aborted} running tasks`);
    this.options.reports.due();
    this.options.changed();
  }

  /** Gives up the queued tasks (they were never started; the server hands them out again). */
  giveUpQueued(): void {
    for (const t of this.queue) this.forget(t, 'debug', 'given back unstarted: the endpoint is stopping');
    this.queue.length = 0;
    this.queuedIds.clear();
    this.order.clear();
  }

  /** Aborts every running task with TaskCancelledError(why). */
  abortRunning(why: string): void {
    for (const run of this.runs.values()) {
      this.options.log.warn(`stopped: ${why}`, facts(run.task));
      run.controller.abort(new TaskCancelledError(why));
    }
  }

  /** The agent is done with a task it never ran to a result: a line about it, and its stream is let go. */
  private forget(task: TaskSpec, level: 'debug' | 'info' | 'warn', line: string): void {
    this.options.log[level](line, facts(task));
    if (!task.copy) this.options.live?.finish(task.taskId);
  }

  /**
   * Turns a `tasks` frame into runnable specs: each task's function comes from the frame, or from the
   * functions this connection was sent before (the server sends a source once per connection; both
   * sides track it with the same FunctionSpecCache rule). Every frame's functions are noted, even when
   * draining, so this side keeps what the server believes it has. A task whose function this agent
   * does not hold (a server that broke the rule) fails with a sentence instead of waiting forever.
   */
  private resolve(payload: TasksPayload): TaskSpec[] {
    const inFrame = new Map(payload.functions.map((f) => [f.id, f]));
    const find = (id: string) => inFrame.get(id) ?? this.functionSpecs.get(id);
    const resolved: TaskSpec[] = [];
    for (const t of payload.tasks) {
      const { functionId, ...rest } = t;
      const fn = find(functionId);
      if (fn) {
        resolved.push({ ...rest, function: fn });
        continue;
      }
      this.options.log.warn('the task names a function the server never sent on this connection; failing it', {
        taskId: t.taskId,
        attempt: t.attempt,
        functionId,
      });
      const unknown: TaskSpec = { ...rest, function: { id: functionId, runtime: 'js', source: '', contentHash: '' } };
      this.finish(
        unknown,
        Date.now(),
        failure('BAD_FRAME', 'UnknownFunction', `the server sent task ${t.taskId} without its function ${functionId}; the agent cannot run it`),
      );
    }
    for (const id of functionsOf(payload.tasks)) {
      const fn = find(id);
      if (fn) this.functionSpecs.use(fn);
    }
    return resolved;
  }

  /** Starts queued tasks while there are free slots. */
  pump(): void {
    const capacity = this.options.provider.capacity();
    const state = this.options.state();
    const taking = state === AgentState.RUNNING || state === AgentState.CONNECTING;
    while (taking && this.runs.size < capacity && this.queue.length > 0) {
      const task = this.queue.shift() as TaskSpec;
      this.order.taken(task);
      this.queuedIds.delete(runKey(task.taskId, task.copy));
      this.start(task);
    }
    this.options.changed();
  }

  private start(task: TaskSpec): void {
    const { reports, log } = this.options;
    const startedAt = Date.now();
    const refused = this.admission.refusal(task);
    if (refused) {
      if (refused.status === 'failed') log.warn(`refused: ${refused.error.message}`, { ...facts(task), code: refused.error.code });
      return this.finish(task, startedAt, refused);
    }
    const controller = new AbortController();
    const run: RunningTask = { task, controller, startedAt };
    // A task's own walltime request wins over its function's.
    // Absent: the endpoint's default; never more than its max.
    const walltimeSeconds = taskWalltimeSeconds(task, this.options.taskLimits);
    const begin = (at: number, workerId?: string) => {
      run.startedAt = at;
      run.workerId = workerId;
      const started = startedLine(workerId);
      log.info(started.line, { ...facts(task), ...started.fields });
      run.began = true;
      if (walltimeSeconds !== undefined && !controller.signal.aborted) {
        run.walltimeTimer = setTimeout(() => {
          log.warn(`walltime of ${walltimeSeconds} s exceeded; stopping the task`, facts(task));
          controller.abort(new WalltimeExceededError(walltimeSeconds));
        }, walltimeSeconds * 1000);
      }
      reports.started(task.taskId, at, task.copy);
    };
    const key = runKey(task.taskId, task.copy);
    this.runs.set(key, run);
    let lost = false;
    this.execute(task, run, begin)
      .catch((error: unknown): ExecutionOutcome => {
        if (error instanceof TaskLostError) lost = true;
        return { status: 'failed', error: toRemoteError(error, 'INTERNAL') };
      })
      .then((outcome) => {
        if (run.walltimeTimer) clearTimeout(run.walltimeTimer);
        // a line about it now would come after its result: in the log only (no attempt: see TaskLines)
        void run.release?.().catch((error: unknown) => log.warn(`could not release the task's objects: ${String(error)}`, { taskId: task.taskId }));
        if (this.runs.get(key) === run) this.runs.delete(key);
        const reason: unknown = controller.signal.reason;
        // its lines and live items go before its result or hand-back (see LiveStreams), then it is let go
        if (lost && task.copy) {
          // Only the copy's worker went away: the copy fails (the original goes on, and decides). Never
          // handed back: a `requeue` frame names originals (RequeuePayload), which the server gives up
          // where their copy runs beside them on this agent.
          this.finish(task, run.startedAt, outcome, run);
        } else if (lost) {
          // What ran it went away (an HPC block ended): hand it back to be run again (attempt + 1).
          this.forget(task, 'warn', `the task lost its worker (${outcome.status === 'failed' ? outcome.error.message : ''}); handing it back to be requeued`);
          reports.lost(task.taskId);
          this.options.changed();
        } else if (controller.signal.aborted && reason instanceof TaskCancelledError) {
          // Cancelled (by the server, a forget, or the end of a drain): the server has settled it already
          // or will hand it out again, so no result is owed.
          this.forget(task, 'debug', 'its run ended after the cancel');
          this.options.changed();
        } else {
          this.finish(task, run.startedAt, outcome, run);
        }
        this.pump();
        reports.due();
      });
  }

  /**
   * Fetches the task's objects, runs it on the provider, and stores its result as an object when it
   * must be one (before the result goes to the outbox, so the spool holds the reference). Walltime runs
   * from the start on the worker to the outcome: neither the fetch nor the upload counts.
   */
  private async execute(task: TaskSpec, run: RunningTask, begin: (at: number, workerId?: string) => void): Promise<ExecutionOutcome> {
    const { provider, reports, objects } = this.options;
    const signal = run.controller.signal;
    const prepared = objects ? await objects.inputs.prepare(task, signal) : { placements: [], release: () => Promise.resolve() };
    if ('failed' in prepared) return prepared.failed;
    run.release = prepared.release;
    // A provider that waits for a block reports the real start; its walltime counts from there.
    const startsLater = provider.startsLater === true;
    if (!startsLater) begin(Date.now());
    const outcome = await provider.submit(task, signal, {
      // one stream per task: a speculative copy beside its original streams nothing
      ...(this.options.live && !task.copy ? { live: this.options.live.sink(task) } : {}),
      maxResultBytes: objects ? objects.maxResultBytes : this.maxResultBytes,
      ...(objects
        ? { inlineResultBytes: this.inlineResultBytes, ...(task.outputName !== undefined ? { resultToFile: true } : {}), objects: prepared.placements }
        : {}),
      ...(startsLater
        ? {
            onStart: (workerId: string) => {
              if (this.runs.get(runKey(task.taskId, task.copy)) !== run) return;
              begin(Date.now(), workerId);
              reports.due();
            },
          }
        : {}),
    });
    if (run.walltimeTimer) clearTimeout(run.walltimeTimer);
    run.account = { usage: outcome.usage, held: outcome.held };
    const cancelled = signal.aborted && signal.reason instanceof TaskCancelledError;
    if (outcome.status === 'success' && (outcome.resultFile || outcome.namedOutputs) && (cancelled || !objects)) {
      // Nobody will store them: a cancel that raced the result, or an agent without objects.
      discardFiles(outcome);
      return cancelled
        ? abortFailure(signal.reason)
        : failure('INTERNAL', 'ResultFile', 'the worker wrote its result to a file, which this agent cannot store');
    }
    if (!objects || cancelled) return outcome;
    // A walltime that ended a shell task still leaves its result to store: only a cancel stops the upload.
    return objects.results.settle(task, outcome, this.inlineResultBytes, signal.aborted ? new AbortController().signal : signal);
  }

  /** Reports a task's result; `run`: how it ran, when it did (a task refused before it started held nothing). */
  private finish(task: TaskSpec, startedAt: number, outcome: ExecutionOutcome, run?: RunningTask): void {
    // task code's word, cut before it is logged, spooled and sent beside other tenants' results
    outcome = boundOutcome(outcome, this.maxResultBytes);
    const finishedAt = Date.now();
    const result: TaskResult = {
      taskId: task.taskId,
      attempt: task.attempt,
      status: outcome.status,
      timings: { startedAt, finishedAt, ...(outcome.workerId ? { workerId: outcome.workerId } : {}) },
    };
    const usage = attemptUsage(task, {
      ran: run?.began ? { startedAt: run.startedAt, finishedAt } : undefined,
      measured: run?.account?.usage ?? outcome.usage,
      held: run?.account?.held ?? outcome.held,
    });
    if (usage) result.usage = usage;
    this.forget(task, 'info', finishedLine(outcome, finishedAt - startedAt, outcome.workerId ?? run?.workerId));
    if (outcome.status === 'success' && outcome.resultRef) result.resultRef = outcome.resultRef;
    else if (outcome.status === 'success') result.result = outcome.result ?? null;
    else result.error = outcome.error;
    if (outcome.output) result.output = outcome.output;
    if (task.copy) result.copy = true;
    this.options.reports.finished(result);
  }
}
