import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { EventsService } from '../events/events.service.js';
import { QueueService } from '../tasks/queue.service.js';
import type { ResultInput } from '../tasks/tasks.repository.js';
import { AttemptsRepository, type RetryInput } from './attempts.repository.js';
import { triageFailure } from './retry-rules.js';

/** Longest a replica's timer waits before it looks again (a retry scheduled elsewhere is seen by the sweep anyway). */
const MAX_TIMER_MS = 60_000;

/**
 * Retries (issue 14): a failed attempt whose code the task's policy names, while attempts remain, is
 * archived and run again after the backoff instead of becoming final. The backoff is durable: the task
 * waits as `waiting-for-retry` until `retry_at`, and whichever replica's timer or sweep sees it due
 * first moves it to its queue, once (a conditional UPDATE). A replica keeps one timer for the
 * earliest backoff it knows; the recovery sweep (every FX_SWEEP_INTERVAL_MS) is the backstop after a
 * restart or for another replica's retries.
 */
@Injectable()
export class RetriesService implements OnModuleDestroy {
  private readonly logger = new Logger('Retries');
  private timer?: NodeJS.Timeout;
  private timerAt = Number.POSITIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly attempts: AttemptsRepository,
    private readonly queue: QueueService,
    private readonly events: EventsService,
  ) {}

  onModuleDestroy(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /**
   * Takes the failed results that are retried (or dropped as stale) out of a frame's results; returns
   * those to record as usual. Costs a statement only when the frame holds failures.
   */
  async divert(conn: { endpointId: string; id: string }, results: ResultInput[]): Promise<ResultInput[]> {
    const failed = results.filter((r) => r.status === 'failed' && r.error);
    if (failed.length === 0) return results;
    const tasks = new Map((await this.attempts.candidates(failed.map((r) => ({ taskId: r.taskId, attempt: r.attempt ?? -1 })))).map((t) => [t.id, t]));
    if (tasks.size === 0) return results;
    const retry: RetryInput[] = [];
    const dropped = new Set<ResultInput>();
    for (const r of failed) {
      const triage = triageFailure(tasks.get(r.taskId), { attempt: r.attempt ?? -1, code: r.error!.code }, conn.id);
      if (triage.kind === 'drop') dropped.add(r);
      if (triage.kind !== 'retry') continue;
      const { workerId, startedAt } = r.timings;
      retry.push({ taskId: r.taskId, attempt: r.attempt!, delayMs: triage.delayMs, error: r.error!, workerId: workerId ?? null, startedAt: startedAt ?? null });
    }
    // one that did not move (cancelled meanwhile) is recorded as usual: first final wins
    const moved = retry.length ? await this.attempts.scheduleRetries(conn.endpointId, conn.id, retry) : [];
    if (moved.length) {
      this.events.noteTaskStates('waiting-for-retry', conn.endpointId, moved);
      this.arm(new Date(Math.min(...moved.map((m) => m.retry_at?.getTime() ?? Date.now()))));
    }
    const movedIds = new Set(moved.map((m) => m.id));
    return results.filter((r) => !dropped.has(r) && !(r.status === 'failed' && movedIds.has(r.taskId)));
  }

  /**
   * The sweep's part: moves what is due, and sets this replica's timer for the next backoff to end.
   * The earliest backoff is read first: with none due (the usual sweep) that one read is all it costs.
   */
  async sweep(): Promise<void> {
    const first = await this.attempts.nextRetry();
    if (!first) return;
    if (!first.due) return this.arm(first.at);
    await this.promoteDue();
    const next = await this.attempts.nextDue();
    if (next) this.arm(next);
  }

  /** Tasks whose backoff ended join their endpoints' queues. */
  async promoteDue(): Promise<number> {
    let total = 0;
    for (;;) {
      const due = await this.attempts.promoteDue();
      if (due.length === 0) break;
      // enqueue notes them waiting-for-endpoint
      await this.queue.enqueue(due);
      total += due.length;
      if (due.length < 10_000) break;
    }
    return total;
  }

  /**
   * One timer per replica, for the earliest backoff known here. It always fires on a later turn of the
   * event loop than the results frame that scheduled the retry, so the agent has its ack before the
   * task can come back to it.
   */
  private arm(at: Date): void {
    if (this.stopped || at.getTime() >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at.getTime();
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.sweep().catch((e) => this.logger.error(`moving due retries failed; the recovery sweep retries: ${(e as Error).message}`));
      },
      Math.min(MAX_TIMER_MS, Math.max(1, at.getTime() - Date.now())),
    );
    this.timer.unref();
  }
}
