import { mkdir } from 'node:fs/promises';
import type { TaskResult } from '@fx/protocol';
import { runKey } from './run-key.js';
import { SpoolLog, type Segment } from './spool.log.js';
import { NamedError } from '../common/named.error.js';

export interface ResultSpoolOptions {
  /** The spool directory, created (mode 0700) if missing. */
  dir: string;
  /** Receives a sentence when something odd is found on disk (a corrupt file). */
  log?: (message: string) => void;
  /** A segment file that has reached this size takes no more records. @default 1 MiB */
  segmentBytes?: number;
  /** Once every result is acknowledged, the segment is removed if it holds this much, else written on. @default 64 KiB */
  resetBytes?: number;
}

export class SpoolError extends NamedError {}

/**
 * A batch the caller may block on (`write(…, { blocking: true })`) is written with blocking calls when it
 * is at most this much JSON: one append into the page cache (a few µs), where the thread pool's
 * round trips cost two turns of the event loop (0.3 ms idle, 1-3 ms on a loaded machine) between a task's
 * end and its result's frame (issue 18). Larger ones, and any the caller does not block on, are written
 * asynchronously: the agent's loop never stalls on the disk, and results finishing meanwhile join the
 * next frame.
 */
const SYNC_WRITE_MAX_CHARS = 64 * 1024;

/**
 * Results kept on disk until the server acknowledges them (DESIGN.md invariant 4), in an append-only
 * log (SpoolLog): each batch (usually one `results` frame) is one line appended before it is sent, and
 * each acknowledgement one line naming the results it settles; a restart replays the lines and resends
 * what no acknowledgement settled. One append per frame and one per ack, where a file per batch cost a
 * create, a rename and an unlink (metadata operations, each a round trip on a network file system such
 * as an HPC home directory). fsync is skipped on purpose: it would cost a disk flush per frame, and what
 * it protects against (power loss rather than a process crash) also takes the running tasks with it.
 */
export class ResultSpool {
  /** run key (runKey: the task id, or a copy's) → the unacknowledged result and the segment holding it; Map order is the order to resend in. */
  private readonly entries = new Map<string, { result: TaskResult; segment: Segment }>();
  private readonly log: SpoolLog;
  /** Results whose write failed, held in memory only; never on disk. */
  private readonly memory: Segment = { name: 'memory', live: new Set(), bytes: 0 };
  /** Why the last write failed (results kept in memory only), until a write succeeds again. */
  private degradedReason: string | undefined;

  constructor(private readonly options: ResultSpoolOptions) {
    this.log = new SpoolLog({
      dir: options.dir,
      segmentBytes: options.segmentBytes ?? 1024 * 1024,
      resetBytes: options.resetBytes ?? 64 * 1024,
      log: (m) => options.log?.(m),
    });
  }

  get dir(): string {
    return this.options.dir;
  }

  /** Set while the disk refuses writes: results are then kept in memory only (lost if the agent dies). */
  get degraded(): string | undefined {
    return this.degradedReason;
  }

  get size(): number {
    return this.entries.size;
  }

  has(taskId: string): boolean {
    return this.entries.has(taskId);
  }

  /** Task ids of the unacknowledged results. */
  ids(): string[] {
    return [...new Set([...this.entries.values()].map((e) => e.result.taskId))];
  }

  /** Unacknowledged results, oldest first. */
  pending(): TaskResult[] {
    return [...this.entries.values()].map((e) => e.result);
  }

  /** Reads what a previous run left behind. Returns how many results were found. */
  async load(): Promise<number> {
    await mkdir(this.options.dir, { recursive: true, mode: 0o700 });
    await this.replay(true);
    this.log.prune();
    return this.entries.size;
  }

  /**
   * How many unacknowledged results a spool directory holds, read without changing anything in it (an
   * agent may be running on it): `fx-endpoint status` without a live agent.
   */
  static async count(dir: string): Promise<number> {
    const spool = new ResultSpool({ dir });
    await spool.replay(false);
    return spool.size;
  }

  private async replay(tidy: boolean): Promise<void> {
    for (const { segment, records } of await this.log.load(tidy)) {
      for (const record of records) {
        if ('r' in record) this.register(segment, record.r);
        else this.settle(record.a);
      }
    }
  }

  /**
   * Appends one batch; resolves once it is in the log. `blocking`: the caller has nothing else to do
   * meanwhile (see SYNC_WRITE_MAX_CHARS).
   */
  async write(results: TaskResult[], options: { blocking?: boolean } = {}): Promise<void> {
    if (results.length === 0) return;
    try {
      const line = `${JSON.stringify({ r: results })}\n`;
      // registered as soon as the line is in its segment, before anything else can prune that segment
      await this.log.append(line, !!options.blocking && line.length <= SYNC_WRITE_MAX_CHARS, (segment) => this.register(segment, results));
    } catch (cause) {
      // A full disk: keep the results in memory so they are still resent until acknowledged (only a
      // crash of the agent loses them now).
      const reason = cause instanceof Error ? cause.message : String(cause);
      this.degradedReason = `spooling to ${this.options.dir} failed (${reason}); results are kept in memory only until the server acknowledges them`;
      this.register(this.memory, results);
      this.log.prune();
      throw new SpoolError(`could not write ${results.length} results to the spool ${this.options.dir} (${reason}); kept in memory`, { cause });
    }
    this.degradedReason = undefined;
    this.log.prune();
  }

  /** Drops acknowledged (or forgotten) results; the log says so where a restart would otherwise resend them. */
  async ack(keys: Iterable<string>): Promise<void> {
    const settled = this.settle(keys);
    this.log.prune();
    const onDisk = settled.filter((s) => this.log.holds(s.segment)).map((s) => s.key);
    if (onDisk.length === 0) return;
    // Not written: they are resent after a restart, and the server acknowledges them again as duplicates.
    await this.log
      .append(`${JSON.stringify({ a: onDisk })}\n`, true, () => undefined)
      .catch((error: Error) => {
        this.options.log?.(`could not note acknowledged results in the spool ${this.options.dir}: ${error.message}`);
      });
  }

  /** Closes the log file it appends to (what it holds stays on disk for the next start). */
  close(): Promise<void> {
    return this.log.close();
  }

  /** Forgets these results (acknowledged); returns which were held, and where. */
  private settle(keys: Iterable<string>): Array<{ key: string; segment: Segment }> {
    const settled: Array<{ key: string; segment: Segment }> = [];
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (!entry) continue;
      this.entries.delete(key);
      entry.segment.live.delete(key);
      settled.push({ key, segment: entry.segment });
    }
    return settled;
  }

  /** Records a batch held by `segment`; a newer result for a run replaces the older one. */
  private register(segment: Segment, results: TaskResult[]): void {
    for (const result of results) {
      // a speculative copy's result is kept apart from its task's own: both are owed to the server
      const key = runKey(result.taskId, result.copy);
      const previous = this.entries.get(key);
      // A newer result for the same run supersedes the older one (both would be accepted as duplicates).
      if (previous) previous.segment.live.delete(key);
      this.entries.delete(key);
      this.entries.set(key, { result, segment });
      segment.live.add(key);
    }
  }
}
