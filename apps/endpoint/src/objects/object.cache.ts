import { createHash } from 'node:crypto';
import { chmod, mkdir, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ObjectRef } from '@fx/protocol';
import { silentLogger, type Logger } from '../agent/logger.js';
import { raceAbort } from '../common/race-abort.js';

/** Default size of an endpoint's object cache (config.yaml `objects.cacheMB`). */
export const DEFAULT_OBJECT_CACHE_BYTES = 10 * 1024 ** 3;
/** Partial downloads nobody asked for again within this long are removed at start. */
const STALE_PARTIAL_MS = 24 * 3600 * 1000;
const SHA256_NAME = /^[0-9a-f]{64}$/;

export interface ObjectCacheOptions {
  /** `$FX_HOME/endpoints/<name>/objects`: content in `cache/`, downloads under way in `partial/`. */
  dir: string;
  /** Bytes of content kept; least recently used entries no task holds are removed past it. @default DEFAULT_OBJECT_CACHE_BYTES */
  maxBytes?: number;
  /** Fills `partPath` with exactly the object's content (see downloadObject), or rejects. */
  fetch: (ref: ObjectRef, partPath: string, signal: AbortSignal) => Promise<void>;
  log?: Logger;
}

/** A cached object held for one task: its file stays until released. */
export interface CacheLease {
  /** The content's sha256 (the file's name is its entry's key, see entryKey). */
  readonly sha256: string;
  /** The content, read-only (0444). */
  readonly path: string;
  release(): void;
}

interface Entry {
  /** Its name in the cache directory and its key in every map (entryKey). */
  key: string;
  size: number;
  lastUsed: number;
  /** Tasks holding it: never evicted while above 0. */
  pins: number;
}

/** One download, shared by every task that waits for the same content. */
interface Flight {
  promise: Promise<Entry>;
  /** Waiters counted when it ends: each gets a pin (see acquire). */
  waiters: number;
  done: boolean;
}

export interface ObjectCacheStats {
  entries: number;
  bytes: number;
  downloads: number;
  hits: number;
  evictions: number;
}

/**
 * The name of a content's entry for the tasks of one owner: the cache is partitioned by task owner, so
 * that one user's task cannot tell, by how fast its own object arrives, whether another user's task on
 * this endpoint used the same content (the side channel of a cache shared across tenants). The price is
 * one download per owner of content several owners use. Tasks of no known owner share the plain sha256.
 */
export function entryKey(sha256: string, owner?: string): string {
  return owner ? createHash('sha256').update(`fx-object-cache\0${owner}\0${sha256}`).digest('hex') : sha256;
}

/**
 * The endpoint's content-addressed object cache (DESIGN invariant 10: content never changes, so the
 * cache is always coherent). Keyed by sha256 within each task owner's partition (entryKey); one download
 * per content however many of the owner's tasks wait for it (single flight); verified before it is used;
 * bounded by size, evicting the least recently used entries that no running task holds. An entry is a
 * read-only file renamed into place only once its hash matched, so a crash never leaves a wrong entry,
 * and a partial download resumes after a restart.
 */
export class ObjectCache {
  private readonly entries = new Map<string, Entry>();
  private readonly flights = new Map<string, Flight>();
  /** Evicted files being removed: a download of the same content renames into place only after. */
  private readonly removing = new Map<string, Promise<void>>();
  private readonly maxBytes: number;
  private readonly log: Logger;
  private readonly stopper = new AbortController();
  private used = 0;
  private reserved = 0;
  private readonly counters = { downloads: 0, hits: 0, evictions: 0 };

  constructor(private readonly options: ObjectCacheOptions) {
    this.maxBytes = options.maxBytes ?? DEFAULT_OBJECT_CACHE_BYTES;
    this.log = options.log ?? silentLogger;
  }

  private get contentDir(): string {
    return join(this.options.dir, 'cache');
  }

  private get partialDir(): string {
    return join(this.options.dir, 'partial');
  }

  private pathOf(key: string): string {
    return join(this.contentDir, key);
  }

  /** Creates the directories (0700) and indexes what a previous run left (least recently used: oldest mtime). */
  async open(): Promise<void> {
    for (const dir of [this.options.dir, this.contentDir, this.partialDir]) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await chmod(dir, 0o700);
    }
    for (const name of await readdir(this.contentDir)) {
      const path = join(this.contentDir, name);
      const s = await stat(path).catch(() => undefined);
      if (!SHA256_NAME.test(name) || !s?.isFile()) {
        await unlink(path).catch(() => undefined);
        continue;
      }
      this.entries.set(name, { key: name, size: s.size, lastUsed: s.mtimeMs, pins: 0 });
      this.used += s.size;
    }
    for (const name of await readdir(this.partialDir)) {
      const s = await stat(join(this.partialDir, name)).catch(() => undefined);
      if (!s || Date.now() - s.mtimeMs > STALE_PARTIAL_MS || !/^[0-9a-f]{64}\.part$/.test(name))
        await unlink(join(this.partialDir, name)).catch(() => undefined);
    }
    this.evict(0);
  }

  stats(): ObjectCacheStats {
    return { entries: this.entries.size, bytes: this.used, ...this.counters };
  }

  /**
   * The object's content on disk, held for the caller until `release()`. Downloads it when it is not
   * cached (once, whoever else waits for it); `signal` stops this caller's wait, not the download, which
   * others may share. Rejects with the download's error when it fails for good. `owner`: the task's
   * owner, whose partition of the cache it reads (entryKey).
   */
  async acquire(ref: ObjectRef, signal?: AbortSignal, owner?: string): Promise<CacheLease> {
    signal?.throwIfAborted();
    const key = entryKey(ref.sha256, owner);
    const cached = this.entries.get(key);
    if (cached) {
      this.counters.hits++;
      return this.lease(cached, ref.sha256);
    }
    const flight = this.flight(ref, key);
    flight.waiters++;
    try {
      const entry = await raceAbort(flight.promise, signal);
      return this.leaseHeld(entry, ref.sha256);
    } catch (error) {
      if (!flight.done) flight.waiters--;
      else if (this.entries.has(key)) this.unpin(key);
      throw error;
    }
  }

  /** Stops downloads under way (their partial files stay for the next start). */
  close(): void {
    this.stopper.abort(new Error('the object cache is closing'));
  }

  private flight(ref: ObjectRef, key: string): Flight {
    const existing = this.flights.get(key);
    if (existing) return existing;
    const flight: Flight = { promise: undefined as unknown as Promise<Entry>, waiters: 0, done: false };
    flight.promise = this.download(ref, key).then(
      (entry) => {
        flight.done = true;
        this.flights.delete(key);
        entry.pins += flight.waiters;
        return entry;
      },
      (error: unknown) => {
        flight.done = true;
        this.flights.delete(key);
        throw error;
      },
    );
    this.flights.set(key, flight);
    return flight;
  }

  private async download(ref: ObjectRef, key: string): Promise<Entry> {
    this.evict(ref.size);
    this.reserved += ref.size;
    const part = join(this.partialDir, `${key}.part`);
    try {
      this.counters.downloads++;
      this.log.debug(`fetching object ${ref.id} (${ref.size} bytes)`, { objectId: ref.id, sha256: ref.sha256 });
      await this.options.fetch(ref, part, this.stopper.signal);
      await chmod(part, 0o444);
      await this.removing.get(key);
      await rename(part, this.pathOf(key));
    } finally {
      this.reserved -= ref.size;
    }
    const entry: Entry = { key, size: ref.size, lastUsed: Date.now(), pins: 0 };
    this.entries.set(key, entry);
    this.used += ref.size;
    return entry;
  }

  private lease(entry: Entry, sha256: string): CacheLease {
    entry.pins++;
    return this.leaseHeld(entry, sha256);
  }

  /** A lease on an entry already pinned for it. */
  private leaseHeld(entry: Entry, sha256: string): CacheLease {
    entry.lastUsed = Date.now();
    let released = false;
    return {
      sha256,
      path: this.pathOf(entry.key),
      release: () => {
        if (released) return;
        released = true;
        this.unpin(entry.key);
      },
    };
  }

  private unpin(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.pins = Math.max(0, entry.pins - 1);
    entry.lastUsed = Date.now();
    if (entry.pins === 0 && this.used + this.reserved > this.maxBytes) this.evict(0);
  }

  /** Removes least recently used entries no task holds until `incoming` more bytes fit (or nothing more can go). */
  private evict(incoming: number): void {
    if (this.used + this.reserved + incoming <= this.maxBytes) return;
    const idle = [...this.entries.values()].filter((e) => e.pins === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    for (const entry of idle) {
      if (this.used + this.reserved + incoming <= this.maxBytes) break;
      this.entries.delete(entry.key);
      this.used -= entry.size;
      this.counters.evictions++;
      const removal = unlink(this.pathOf(entry.key))
        .catch((error: unknown) => this.log.warn(`could not remove a cached object: ${String(error)}`))
        .finally(() => {
          if (this.removing.get(entry.key) === removal) this.removing.delete(entry.key);
        });
      this.removing.set(entry.key, removal);
    }
    if (this.used + this.reserved + incoming > this.maxBytes) {
      this.log.debug(`the object cache holds ${this.used + this.reserved} bytes in use by tasks, more than its ${this.maxBytes}`);
    }
  }
}
