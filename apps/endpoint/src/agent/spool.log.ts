import { close, open, openSync, write, writeSync } from 'node:fs';
import { readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { TaskResult } from '@fx/protocol';

const openAsync = promisify(open);
const writeAsync = (fd: number, buffer: Buffer, offset: number) =>
  new Promise<number>((resolve, reject) => write(fd, buffer, offset, buffer.length - offset, null, (e, n) => (e ? reject(e) : resolve(n))));
const closeAsync = promisify(close);

/** One line of a segment: a batch of results as written, or the run keys of results the server acknowledged. */
export const SpoolRecord = z.union([z.object({ r: z.array(TaskResult) }), z.object({ a: z.array(z.string()) })]);
export type SpoolRecord = z.infer<typeof SpoolRecord>;
/** A spool file of the format before segments: one batch of results, a JSON array (still read, for an upgrade in place). */
const LegacyFile = z.array(TaskResult);

/** A file of the spool: a log of records appended in order, or a batch file left by an older agent. */
export interface Segment {
  readonly name: string;
  /** Run keys of this file's results that are still unacknowledged. */
  readonly live: Set<string>;
  bytes: number;
  /** Open for appending: the newest segment only. */
  fd?: number;
}

export interface SpoolLogOptions {
  dir: string;
  /** A segment that has reached this size takes no more records. */
  segmentBytes: number;
  /** An emptied spool's newest segment is removed once it holds this much; a smaller one takes more records. */
  resetBytes: number;
  log: (message: string) => void;
}

/**
 * The spool's files: append-only segments, one record per line, oldest first. A record of acknowledged
 * keys may name results of any older segment, so segments are removed oldest first, and only while
 * nothing in them is unacknowledged: a removed acknowledgement can then only name removed results.
 * Appends are chained so that no two overlap (a torn write would otherwise split another's line); an
 * append that fails retires its segment, so what it left half-written stays that segment's last line.
 */
export class SpoolLog {
  /** Oldest first; the last one is the newest (`active` when open for appending). */
  private readonly segments: Segment[] = [];
  private active?: Segment;
  private chain: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private seq = 0;

  constructor(private readonly options: SpoolLogOptions) {}

  /** Whether the segment is still on disk (not yet removed). */
  holds(segment: Segment): boolean {
    return this.segments.includes(segment);
  }

  /**
   * Appends one line (ending with '\n') to the newest segment, after every append before it, and calls
   * `written` with that segment as soon as the line is in it. `sync`: if nothing is queued, the append
   * is made with blocking calls, in this turn of the event loop.
   */
  append(line: string, sync: boolean, written: (segment: Segment) => void): Promise<void> {
    if (sync && this.queued === 0) {
      try {
        written(this.appendSync(Buffer.from(line)));
        return Promise.resolve();
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
    }
    this.queued++;
    const done = this.chain
      .then(() => this.appendAsync(Buffer.from(line)))
      .then(
        (segment) => {
          this.queued--;
          written(segment);
        },
        (e: unknown) => {
          this.queued--;
          throw e;
        },
      );
    this.chain = done.catch(() => undefined);
    return done;
  }

  /** Removes the oldest segments that hold nothing unacknowledged (see the class). */
  prune(): void {
    for (;;) {
      const oldest = this.segments[0];
      if (!oldest || oldest.live.size > 0) return;
      // the spool is empty: a small newest segment takes the next records too, sparing a file per frame
      if (oldest === this.active && (oldest.bytes < this.options.resetBytes || this.queued > 0)) return;
      this.segments.shift();
      if (oldest === this.active) this.retire();
      unlink(join(this.options.dir, oldest.name)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') this.options.log(`could not remove spool file ${oldest.name}: ${error.message}`);
      });
    }
  }

  /**
   * Reads every file of the directory, oldest first, and keeps them as segments (never appended to
   * again). `tidy`: also drops an older agent's unfinished batch files and sets aside unreadable files.
   */
  async load(tidy: boolean): Promise<Array<{ segment: Segment; records: SpoolRecord[] }>> {
    const read: Array<{ segment: Segment; records: SpoolRecord[] }> = [];
    for (const name of (await readdir(this.options.dir)).sort()) {
      const path = join(this.options.dir, name);
      if (name.endsWith('.tmp')) {
        // A batch whose write never finished was never sent either: its tasks are still in flight
        // server-side and come back through their leases.
        if (tidy) await unlink(path).catch(() => undefined);
        continue;
      }
      if (!name.endsWith('.json') && !name.endsWith('.log')) continue;
      const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
        // removed since the listing: its agent found nothing owed in it
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (text === undefined) continue;
      const { records, unreadable } = name.endsWith('.log') ? parseSegment(text) : parseLegacy(text);
      if (records.length === 0 && unreadable > 0) {
        if (tidy) {
          this.options.log(`spool file ${path} is unreadable; kept as ${name}.corrupt`);
          await rename(path, `${path}.corrupt`).catch(() => undefined);
        }
        continue;
      }
      if (unreadable > 0 && tidy) this.options.log(`spool file ${path} has ${unreadable} unreadable records; the rest of it was read`);
      const segment: Segment = { name, live: new Set(), bytes: Buffer.byteLength(text) };
      this.segments.push(segment);
      read.push({ segment, records });
    }
    return read;
  }

  /** Closes the newest segment once the appends queued now are done (a later append starts a new one). */
  async close(): Promise<void> {
    await this.chain;
    this.retire();
  }

  /** Closes the newest segment, so that the next append starts a new one. */
  private retire(): void {
    const fd = this.active?.fd;
    if (this.active) this.active.fd = undefined;
    this.active = undefined;
    if (fd !== undefined) closeAsync(fd).catch(() => undefined);
  }

  private appendSync(bytes: Buffer): Segment {
    let segment = this.writable();
    if (!segment) {
      const name = this.nextName();
      segment = this.started(name, openSync(join(this.options.dir, name), 'a', 0o600));
    }
    try {
      for (let at = 0; at < bytes.length;) at += writeSync(segment.fd!, bytes, at);
    } catch (e) {
      this.failed(segment);
      throw e;
    }
    segment.bytes += bytes.length;
    return segment;
  }

  private async appendAsync(bytes: Buffer): Promise<Segment> {
    let segment = this.writable();
    if (!segment) {
      const name = this.nextName();
      segment = this.started(name, await openAsync(join(this.options.dir, name), 'a', 0o600));
    }
    try {
      for (let at = 0; at < bytes.length;) at += await writeAsync(segment.fd!, bytes, at);
    } catch (e) {
      this.failed(segment);
      throw e;
    }
    segment.bytes += bytes.length;
    return segment;
  }

  /** A failed append may have left part of its line: nothing more goes after it. */
  private failed(segment: Segment): void {
    if (segment === this.active) this.retire();
  }

  /** The newest segment, unless it is full (then it is retired, and the caller starts the next). */
  private writable(): Segment | undefined {
    if (this.active && this.active.bytes >= this.options.segmentBytes) this.retire();
    return this.active;
  }

  private started(name: string, fd: number): Segment {
    const segment: Segment = { name, live: new Set(), bytes: 0, fd };
    this.segments.push(segment);
    this.active = segment;
    return segment;
  }

  private nextName(): string {
    // time first: names sort in the order written, across restarts and with an older agent's batch files
    return `${String(Date.now()).padStart(14, '0')}-${process.pid}-${String(this.seq++).padStart(8, '0')}.log`;
  }
}

function parseSegment(text: string): { records: SpoolRecord[]; unreadable: number } {
  const lines = text.split('\n');
  lines.pop(); // after the last '\n': empty, or a line torn by a crash mid-append (never sent)
  const records: SpoolRecord[] = [];
  let unreadable = 0;
  for (const line of lines) {
    try {
      records.push(SpoolRecord.parse(JSON.parse(line)));
    } catch {
      unreadable++;
    }
  }
  return { records, unreadable };
}

function parseLegacy(text: string): { records: SpoolRecord[]; unreadable: number } {
  try {
    return { records: [{ r: LegacyFile.parse(JSON.parse(text)) }], unreadable: 0 };
  } catch {
    return { records: [], unreadable: 1 };
  }
}
