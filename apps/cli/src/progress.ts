import type { Progress } from '@fx/sdk';
import type { CliContext } from './cli.context.js';

/** A duration for people: `45s`, `3m05s`, `2h04m`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Tasks finished per second so far, or undefined before the first one. */
export function rate(progress: Progress, elapsedMs: number): number | undefined {
  return progress.done > 0 && elapsedMs > 0 ? progress.done / (elapsedMs / 1000) : undefined;
}

/**
 * One progress line: `30/50 done (60%), 1 failed, 12.5 tasks/s, ETA 2s`; the final one says how long
 * it took instead of the ETA.
 */
export function formatProgressLine(progress: Progress, elapsedMs: number, final = false): string {
  const { done, failed, total } = progress;
  const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
  const r = rate(progress, elapsedMs);
  const speed = r === undefined ? '- tasks/s' : `${r >= 100 ? Math.round(r) : r.toFixed(1)} tasks/s`;
  const tail = final ? `took ${formatDuration(elapsedMs)}` : `ETA ${r === undefined ? '-' : formatDuration(((total - done) / r) * 1000)}`;
  return `${done}/${total} done (${pct}%), ${failed} failed, ${speed}, ${tail}`;
}

/** The same facts behind a bar of fixed width (so it does not jitter as numbers grow): `[#####.....] 30/50 done …`. */
export function formatProgressBar(progress: Progress, elapsedMs: number, columns: number): string {
  const text = formatProgressLine(progress, elapsedMs);
  // Room is kept for the longest usual line (a 10,000-task batch), so the bar keeps its width.
  const width = Math.min(30, columns - 64);
  if (width < 10) return text.slice(0, Math.max(0, columns - 1));
  const filled = progress.total === 0 ? width : Math.floor((progress.done / progress.total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}`.slice(0, columns - 1);
}

export interface ProgressReporterOptions {
  /** How often a plain line is written when stderr is not a terminal. @default 2000 */
  lineIntervalMs?: number;
  /** How often the bar is redrawn on a terminal. @default 200 */
  redrawIntervalMs?: number;
}

/**
 * Shows progress on stderr: a bar redrawn in place on a terminal, otherwise a plain line every couple
 * of seconds. `finish()` always writes one final line.
 */
export class ProgressReporter {
  private progress: Progress = { done: 0, failed: 0, total: 0 };
  private readonly started: number;
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;

  constructor(
    private readonly context: CliContext,
    private readonly options: ProgressReporterOptions = {},
  ) {
    this.started = context.now();
  }

  start(): void {
    const tty = this.context.tty;
    this.timer = setInterval(
      () => (tty ? this.redraw() : this.context.err(this.line())),
      tty ? (this.options.redrawIntervalMs ?? 200) : (this.options.lineIntervalMs ?? 2000),
    );
    this.timer.unref();
  }

  update(progress: Progress): void {
    this.progress = progress;
  }

  finish(progress: Progress = this.progress): void {
    clearInterval(this.timer);
    this.progress = progress;
    if (this.context.tty && this.drawn) this.context.tty.write('\r\x1b[K');
    this.context.err(formatProgressLine(progress, this.elapsed(), true));
  }

  private elapsed(): number {
    return this.context.now() - this.started;
  }

  private line(): string {
    return formatProgressLine(this.progress, this.elapsed());
  }

  private redraw(): void {
    const tty = this.context.tty!;
    tty.write(`\r${formatProgressBar(this.progress, this.elapsed(), tty.columns)}\x1b[K`);
    this.drawn = true;
  }
}
