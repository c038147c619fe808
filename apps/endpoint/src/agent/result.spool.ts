import { renameSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { TaskResult } from '@fx/protocol';
import { runKey } from './run-key.js';
import { NamedError } from '../common/named.error.js';

export interface ResultSpoolOptions {
  /** The spool directory, created (mode 0700) if missing. */
  dir: string;
  /** Receives a sentence when something odd is found on disk (a corrupt file). */
  log?: (message: string) => void;
}

export class SpoolError extends NamedError {}

const SpoolFile = z.array(TaskResult);
/**
 * A batch the caller may block on (`write(…, { blocking: true })`) is written with blocking calls when it
 * is at most this much JSON: two syscalls into the page cache (about 0.1 ms here), where the thread pool's
 * round trips cost two turns of the event loop (0.3 ms idle, 1-3 ms on a loaded machine) between a task's
 * end and its result's frame (issue 18). Larger ones, and any the caller does not block on, are written
 * asynchronously: the agent's loop never stalls on the disk, and results finishing meanwhile join the
 * next frame.
 */
const SYNC_WRITE_MAX_CHARS = 64 * 1024;
/** Names of batches held in memory only (their write failed); no file on disk goes by such a name. */
const MEMORY_PREFIX = 'memory:';

/**
 * Results kept on disk until the server acknowledges them (DESIGN.md invariant 4). One file per batch
 * (usually one `results` frame), written to a temporary name and renamed so that a crash leaves either
 * the whole batch or nothing; a file is removed once every result in it has been acknowledged. fsync is
 * skipped on purpose: it would cost a disk flush per frame, and what it protects against (power loss
 * rather than a process crash) also takes the running tasks with it.
 */
export class ResultSpool {
  /** run key (runKey: the task id, or a copy's) → the unacknowledged result and the file holding it; Map order is the order to resend in. */
  private readonly entries = new Map<string, { result: TaskResult; file: string }>();
  /** file → the task ids in it that are still unacknowledged. */
  private readonly files = new Map<string, Set<string>>();
  private seq = 0;
  /** Why the last write failed (results kept in memory only), until a write succeeds again. */
  private degradedReason: string | undefined;

  constructor(private readonly options: ResultSpoolOptions) {}

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
    const names = (await readdir(this.options.dir)).sort();
    for (const name of names) {
      const path = join(this.options.dir, name);
      if (name.endsWith('.tmp')) {
        // A batch whose write never finished was never sent either: its tasks are still in flight
        // server-side and come back through their leases.
        await unlink(path).catch(() => undefined);
        continue;
      }
      if (!name.endsWith('.json')) continue;
      let results: TaskResult[];
      try {
        results = SpoolFile.parse(JSON.parse(await readFile(path, 'utf8')));
      } catch (cause) {
        this.options.log?.(`spool file ${path} is unreadable (${cause instanceof Error ? cause.message : String(cause)}); kept as ${name}.corrupt`);
        await rename(path, `${path}.corrupt`).catch(() => undefined);
        continue;
      }
      const emptied = this.register(name, results);
      if (this.files.get(name)?.size === 0) emptied.push(name);
      for (const file of emptied) await this.removeFile(file);
    }
    return this.entries.size;
  }

  /**
   * Writes one batch; resolves once it is on disk (renamed into place). `blocking`: the caller has
   * nothing else to do meanwhile (see SYNC_WRITE_MAX_CHARS).
   */
  async write(results: TaskResult[], options: { blocking?: boolean } = {}): Promise<void> {
    if (results.length === 0) return;
    const name = `${String(Date.now()).padStart(14, '0')}-${process.pid}-${String(this.seq++).padStart(8, '0')}.json`;
    const path = join(this.options.dir, name);
    try {
      const text = JSON.stringify(results);
      if (options.blocking && text.length <= SYNC_WRITE_MAX_CHARS) {
        writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
        renameSync(`${path}.tmp`, path);
      } else {
        await writeFile(`${path}.tmp`, text, { mode: 0o600 });
        await rename(`${path}.tmp`, path);
      }
    } catch (cause) {
      // A full disk: leave no partial file behind, and keep the results in memory so they are still
      // resent until acknowledged (only a crash of the agent loses them now).
      await unlink(`${path}.tmp`).catch(() => undefined);
      const reason = cause instanceof Error ? cause.message : String(cause);
      this.degradedReason = `spooling to ${this.options.dir} failed (${reason}); results are kept in memory only until the server acknowledges them`;
      await Promise.all(this.register(MEMORY_PREFIX + name, results).map((file) => this.removeFile(file)));
      throw new SpoolError(`could not write ${results.length} results to the spool ${this.options.dir} (${reason}); kept in memory`, { cause });
    }
    this.degradedReason = undefined;
    await Promise.all(this.register(name, results).map((file) => this.removeFile(file)));
  }

  /** Drops acknowledged (or forgotten) results and removes files with nothing left in them. */
  async ack(taskIds: Iterable<string>): Promise<void> {
    const emptied = new Set<string>();
    for (const id of taskIds) {
      const entry = this.entries.get(id);
      if (!entry) continue;
      this.entries.delete(id);
      const remaining = this.files.get(entry.file);
      remaining?.delete(id);
      if (remaining?.size === 0) emptied.add(entry.file);
    }
    await Promise.all([...emptied].map((file) => this.removeFile(file)));
  }

  /** Records a batch; returns older files that no longer hold anything. */
  private register(file: string, results: TaskResult[]): string[] {
    const ids = new Set<string>();
    const emptied: string[] = [];
    for (const result of results) {
      // a speculative copy's result is kept apart from its task's own: both are owed to the server
      const key = runKey(result.taskId, result.copy);
      const previous = this.entries.get(key);
      if (previous) {
        // A newer result for the same task supersedes the older one (both would be accepted as duplicates).
        const older = this.files.get(previous.file);
        older?.delete(key);
        if (older?.size === 0 && previous.file !== file) emptied.push(previous.file);
        this.entries.delete(key);
      }
      this.entries.set(key, { result, file });
      ids.add(key);
    }
    this.files.set(file, ids);
    return emptied;
  }

  private async removeFile(file: string): Promise<void> {
    this.files.delete(file);
    if (file.startsWith(MEMORY_PREFIX)) return;
    await unlink(join(this.options.dir, file)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') this.options.log?.(`could not remove spool file ${file}: ${error.message}`);
    });
  }
}
