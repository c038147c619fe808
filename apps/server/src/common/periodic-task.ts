/**
 * A background repair loop (DESIGN invariant 6: sweeps only repair), one per service that composes it.
 * One run at a time, whoever asks: a slow database is not piled on by the next tick or by a caller.
 * The timer never keeps the process alive, and a run's failure never escapes the timer (the body logs
 * what it wants to; the next tick tries again).
 */
export class PeriodicTask<T> {
  private timer?: NodeJS.Timeout;
  private running: Promise<T> | null = null;

  constructor(private readonly body: () => Promise<T>) {}

  /**
   * Runs every `intervalMs` from now until stop(). A tick for which `skip` says true does nothing (a
   * loop that found nothing may look less often); runOnce and join never skip.
   */
  start(intervalMs: number, skip?: () => boolean): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      if (!skip?.()) void this.runOnce().catch(() => undefined);
    }, intervalMs);
    this.timer.unref();
  }

  /** No more ticks; a run under way goes on (settled() waits for it). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Runs the body now, or resolves `undefined` at once when a run is under way. */
  async runOnce(): Promise<T | undefined> {
    if (this.running) return undefined;
    return this.join();
  }

  /** Runs `body` (the task's own by default) now, or shares the run under way and its outcome. */
  join(body: () => Promise<T> = this.body): Promise<T> {
    this.running ??= body().finally(() => (this.running = null));
    return this.running;
  }

  /** Resolves once no run is under way; a run's failure is its callers', not this one's. */
  async settled(): Promise<void> {
    await this.running?.catch(() => undefined);
  }
}
