import { DEFAULT_LIMITS, type TaskResult } from '@fx/protocol';
import type { AgentSession } from './agent.session.js';
import { CoalescedJob } from './coalesced.job.js';
import type { Logger } from './logger.js';
import type { ResultSpool } from './result.spool.js';
import { runKey } from './run-key.js';
import type { TaskReports } from './task.intake.js';

/** A `started` update: of a task, or of its speculative copy. */
type Started = { taskId: string; startedAt: number; copy?: true };

/** Most of a frame the agent fills with results, leaving room for the envelope. */
const MAX_RESULT_FRAME_BYTES = Math.floor(DEFAULT_LIMITS.maxFrameBytes / 2);
/** Results frames sent ahead of their acks before further results wait for one (see scheduleFlush). */
const MAX_RESULT_FRAMES_IN_FLIGHT = 2;

export interface ResultOutboxOptions {
  session: Pick<AgentSession, 'live' | 'send'>;
  spool: ResultSpool;
  log: Logger;
  /** How long `started` updates, results and credit grants may wait to be coalesced into one frame. */
  flushIntervalMs: number;
  /** Most results in one `results` frame (and one spool file). */
  maxResultsPerFrame: number;
  /** Whether the task (or its speculative copy) is still running (a `started` update is owed only then). */
  isRunning: (taskId: string, copy?: boolean) => boolean;
  /** Tasks the agent has room for beyond those it holds (capacity + prefetch − held); undefined while it grants none. */
  room: () => number | undefined;
  /** Whether the agent has ended: nothing is scheduled any more. */
  ended: () => boolean;
  /** Something observable changed (results held). */
  changed: () => void;
  /**
   * Called at each flush and right before each `results` frame: the ended tasks' live items (their lines
   * among them) must go before their results or hand-back, while the server still holds their leases.
   * @default nothing
   */
  beforeSend?: () => void;
}

/**
 * What goes to the server, coalesced: `started` updates, `requeue` of lost tasks, results (spooled to
 * disk first, kept until acked, resent after a reconnect) and credit grants, each in as few frames as
 * possible. Results frames are sent at most MAX_RESULT_FRAMES_IN_FLIGHT ahead of their acks.
 */
export class ResultOutbox implements TaskReports {
  /** Finished, not yet in the spool. */
  private completed: TaskResult[] = [];
  /** A batch taken from `completed` whose spool write is under way: still in flight as far as `hello` goes. */
  private spooling: TaskResult[] = [];
  private startedBatch: Started[] = [];
  /** Tasks whose block ended under them: handed back to the server (requeued with attempt + 1). */
  private lostBatch: string[] = [];
  /** Credits granted on this connection and not yet used by the server. */
  private outstandingCredits = 0;
  /** `results` frames sent on this connection and not yet acknowledged. */
  private framesInFlight = 0;
  /** `delayed`: the fallback timeout while frames await acks, rather than an end-of-turn immediate. */
  private flushTimer?: { handle: NodeJS.Timeout | NodeJS.Immediate; delayed: boolean };
  private startedTimer?: NodeJS.Timeout;
  private readonly flusher = new CoalescedJob(() => this.flushOnce());

  constructor(private readonly options: ResultOutboxOptions) {}

  /** Results not yet acknowledged (spooled or about to be). */
  get unacked(): number {
    return this.options.spool.size + this.completed.length;
  }

  /** Task ids whose results this agent still holds. */
  *ids(): Iterable<string> {
    for (const result of this.completed) yield result.taskId;
    for (const result of this.spooling) yield result.taskId;
    yield* this.options.spool.ids();
  }

  started(taskId: string, at: number, copy?: boolean): void {
    this.startedBatch.push({ taskId, startedAt: at, ...(copy ? { copy: true as const } : {}) });
  }

  finished(result: TaskResult): void {
    this.completed.push(result);
    if (this.completed.length >= this.options.maxResultsPerFrame) void this.flush();
    else this.scheduleFlush();
  }

  lost(taskId: string): void {
    this.lostBatch.push(taskId);
  }

  due(): void {
    this.scheduleFlush();
  }

  /** A new connection is being dialled: nothing is granted or in flight on it yet. */
  dialing(): void {
    this.outstandingCredits = 0;
    this.framesInFlight = 0;
  }

  /** Welcomed: everything unacknowledged goes again (the last connection may have died with frames in flight). */
  welcomed(): void {
    const pending = this.options.spool.pending();
    if (pending.length > 0) this.options.log.info(`resending ${pending.length} results not acknowledged on the last connection`);
    for (const r of pending) this.options.log.debug('result resent', { taskId: r.taskId, ...(r.copy ? { copy: true } : {}) });
    for (const batch of chunkResults(pending, this.options.maxResultsPerFrame)) this.sendResults(batch);
    this.grantCredits();
    this.scheduleFlush();
  }

  /** The connection closed: `started` updates would go nowhere (results carry startedAt anyway). */
  closed(): void {
    this.startedBatch = [];
  }

  /** A `tasks` frame used up `count` credits. */
  tasksArrived(count: number): void {
    this.outstandingCredits = Math.max(0, this.outstandingCredits - count);
  }

  /** Results acknowledged: the tasks' own (`taskIds`), and their speculative copies' (`copies`). */
  acked(taskIds: string[], copies: string[] = []): void {
    this.framesInFlight = Math.max(0, this.framesInFlight - 1);
    void this.options.spool.ack([...taskIds, ...copies.map((id) => runKey(id, true))]).then(() => this.options.changed());
    // results held back while frames were unacknowledged may go now, not at the fallback timer
    if (this.completed.length > 0) {
      if (this.flushTimer?.delayed) {
        clearTimeout(this.flushTimer.handle as NodeJS.Timeout);
        this.flushTimer = undefined;
      }
      this.scheduleFlush();
    }
  }

  /** Drops finished results the server no longer wants, before they are spooled (a copy's too). */
  discard(taskIds: string[]): void {
    const ids = new Set(taskIds);
    this.completed = this.completed.filter((r) => !ids.has(r.taskId));
  }

  /** Removes results from the spool: no longer wanted, the tasks' own and their copies'. */
  release(taskIds: string[]): void {
    void this.options.spool.ack(taskIds.flatMap((id) => [id, runKey(id, true)])).then(() => this.options.changed());
  }

  /**
   * Coalescing without a fixed delay on an idle link: while fewer than MAX_RESULT_FRAMES_IN_FLIGHT
   * results frames await their ack, a flush runs at the end of this turn of the event loop (so one
   * result goes at once, and everything finished in the same turn goes in the same frame); otherwise
   * results gather until an ack arrives (or `flushIntervalMs`, for credits and `started`).
   */
  scheduleFlush(): void {
    if (this.flushTimer || this.options.ended()) return;
    const inFlight = this.options.session.live ? this.framesInFlight : 0;
    const fire = () => {
      this.flushTimer = undefined;
      void this.flush();
    };
    this.flushTimer =
      inFlight < MAX_RESULT_FRAMES_IN_FLIGHT
        ? { handle: setImmediate(fire), delayed: false }
        : { handle: setTimeout(fire, this.options.flushIntervalMs), delayed: true };
  }

  /** Sends `started`, spools and sends results, and grants credits, each as few frames as possible. */
  flush(): Promise<void> {
    return this.flusher.run();
  }

  /** Cancels what is scheduled; resolves once a flush under way has ended. */
  close(): Promise<void> {
    if (this.startedTimer) clearTimeout(this.startedTimer);
    this.startedTimer = undefined;
    if (this.flushTimer?.delayed) clearTimeout(this.flushTimer.handle as NodeJS.Timeout);
    else if (this.flushTimer) clearImmediate(this.flushTimer.handle as NodeJS.Immediate);
    this.flushTimer = undefined;
    return this.flusher.idle();
  }

  private async flushOnce(): Promise<void> {
    const { session, spool, log, maxResultsPerFrame } = this.options;
    const started = this.takeStarted();
    if (started.length > 0) session.send('started', { tasks: started });
    if (this.lostBatch.length > 0) {
      // what ended tasks have pending goes before their hand-back (and before any results behind it)
      this.options.beforeSend?.();
      const lost = this.lostBatch;
      this.lostBatch = [];
      // Without a live session the hand-back is implicit: the next hello does not name them.
      session.send('requeue', { taskIds: lost, reason: 'the block running them ended' });
    }
    while (this.completed.length > 0) {
      const [batch] = chunkResults(this.completed, maxResultsPerFrame);
      this.completed = this.completed.slice(batch.length);
      this.spooling = batch;
      try {
        // Nagle-like: with nothing awaiting an ack the link is idle and this result is what someone waits
        // for, so its write blocks (briefly: see ResultSpool); with frames in flight, results finishing
        // during an asynchronous write join the next frame.
        await spool.write(batch, { blocking: this.framesInFlight === 0 });
        // no attempt: the task is over here, so these stay in the log (TaskLines streams only what the agent holds)
        for (const r of batch) log.debug('result spooled', { taskId: r.taskId, ...(r.copy ? { copy: true } : {}) });
      } catch (error) {
        // Results that cannot be made durable locally are still worth sending: the server may ack them.
        log.warn(`${error instanceof Error ? error.message : String(error)}; sending without a spool copy`, { taskIds: batch.map((r) => r.taskId) });
      } finally {
        this.spooling = [];
      }
      this.options.beforeSend?.();
      this.sendResults(batch);
      this.options.changed();
    }
    // and what tasks that ended without a result (cancelled, given up) have pending, now: a task stopped
    // by a drain sends nothing after it
    this.options.beforeSend?.();
    this.grantCredits();
  }

  /**
   * The `started` updates due now. A task that has finished needs none (its result carries startedAt and
   * the server records both at once), so an update waits until its task has run `flushIntervalMs`: short
   * tasks then cost the server no statement for `started` at all.
   */
  private takeStarted(): Started[] {
    const due: Started[] = [];
    const young: Started[] = [];
    const cutoff = Date.now() - this.options.flushIntervalMs;
    for (const s of this.startedBatch) {
      if (!this.options.isRunning(s.taskId, s.copy)) continue;
      (s.startedAt <= cutoff ? due : young).push(s);
    }
    this.startedBatch = young;
    if (young.length > 0 && !this.startedTimer && !this.options.ended()) {
      this.startedTimer = setTimeout(() => {
        this.startedTimer = undefined;
        void this.flush();
      }, this.options.flushIntervalMs + 1);
    }
    return due;
  }

  /**
   * Grants the server credits up to the room left (free slots + prefetch − held − already granted).
   * A top-up waits while the server still holds more than half the room: with the default prefetch a
   * finished task would otherwise cost a `credits` frame of 1 (and the server a claim that finds
   * nothing) right behind its result, while the server could send hundreds more tasks anyway. A
   * server holding half the room or less (none, with a small window) is topped up at once.
   */
  private grantCredits(): void {
    if (!this.options.session.live) return;
    const room = this.options.room();
    if (room === undefined) return;
    const want = room - this.outstandingCredits;
    if (want <= 0 || this.outstandingCredits * 2 > room) return;
    if (this.options.session.send('credits', { credits: want })) this.outstandingCredits += want;
  }

  private sendResults(results: TaskResult[]): void {
    if (this.options.session.send('results', { results })) this.framesInFlight++;
  }
}

/**
 * Splits results into frames of at most `maxCount` results and MAX_RESULT_FRAME_BYTES of JSON (a result
 * larger than that alone goes in a frame of its own). Each result is measured as it is sent, in bytes:
 * an estimate that counted a failure as 1 KB whatever its error held packed several tenants' results
 * into a frame the server refuses, and the agent sent it again on every reconnect.
 */
export function chunkResults(results: TaskResult[], maxCount: number, maxBytes = MAX_RESULT_FRAME_BYTES): TaskResult[][] {
  const chunks: TaskResult[][] = [];
  let current: TaskResult[] = [];
  let bytes = 0;
  for (const result of results) {
    // and a comma
    const size = Buffer.byteLength(JSON.stringify(result), 'utf8') + 1;
    if (current.length > 0 && (current.length >= maxCount || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(result);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
