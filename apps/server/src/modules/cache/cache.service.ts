import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { QueueService } from '../tasks/queue.service.js';
import type { NewTask, OutcomeRow, TaskCache } from '../tasks/tasks.repository.js';
import { cacheKey, cacheScope, cacheTtl, type CacheFunction, type KeyArgs } from './cache-key.js';
import { CacheRepository, type EntryChange } from './cache.repository.js';

/** What a submission's function must say for its tasks to be memoized. */
export type MemoFunction = CacheFunction & { contentHash: string; cacheTtlSeconds: number | null };

/** Rows looked at per repair statement. */
const REPAIR_PAGE = 1_000;
/** Followers waiting this long with no execution to wait for are moved on by the sweep (a crash after their insert). */
const STRANDED_SECONDS = 5;

/**
 * Memoized results (DESIGN.md invariant 11). A memoized task is inserted with its key: as a success at
 * once when a live entry holds the key (the insert joins the entries), otherwise `received`, waiting for
 * the one execution of its key. After the insert commits, the oldest waiting task of a key without an
 * entry takes it (pending) and is queued; the rest wait. When a task ends (OutcomesService), its success
 * fills the entry and completes the waiting tasks with its result; its failure or cancellation drops the
 * entry and lets them run themselves. Every step after a commit is its own conditional statement, so a
 * crash between two leaves something the recovery sweep finds and finishes (`repair`).
 */
@Injectable()
export class CacheService {
  private readonly logger = new Logger('Cache');
  private dirty = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_CACHE_DEFAULT_TTL_SECONDS' | 'FX_CACHE_MAX_TTL_SECONDS'>,
    private readonly entries: CacheRepository,
    private readonly queue: QueueService,
  ) {}

  /**
   * The cache fields of each task of a submission (undefined: not memoized), or null when none is: then
   * the submission takes exactly the path it takes without this feature. A task that refers to other
   * tasks' results gets its scope and TTL but no key yet: its arguments are known only when it becomes
   * ready, and the dataflow rules key it then (`keyOf`). Object references in arguments are part of the
   * key as completed at submit (id, sha256, size, encoding).
   */
  plan(
    ownerId: string,
    items: ReadonlyArray<Omit<NewTask, 'id'>>,
    flags: ReadonlyArray<boolean | undefined>,
    functions: Map<string, MemoFunction>,
  ): Array<TaskCache | undefined> | null {
    const bounds = { defaultTtlSeconds: this.config.FX_CACHE_DEFAULT_TTL_SECONDS, maxTtlSeconds: this.config.FX_CACHE_MAX_TTL_SECONDS };
    let any = false;
    const planned = items.map((t, i) => {
      const fn = functions.get(t.functionId);
      const ttlSeconds = fn ? cacheTtl(flags[i], fn.cacheTtlSeconds, bounds) : null;
      // a task with an output name must store its output itself: a copied outcome would store nothing
      if (!fn || ttlSeconds === null || t.outputName) return undefined;
      any = true;
      const scope = cacheScope(ownerId, fn);
      return { key: t.inputs?.length ? null : cacheKey(scope, fn.contentHash, t), scope, ttlSeconds };
    });
    return any ? planned : null;
  }

  /** The key of a dependent that became ready, from its arguments with its inputs' results in place. */
  keyOf(scope: string, contentHash: string, args: KeyArgs): string {
    return cacheKey(scope, contentHash, args);
  }

  /**
   * Memoized tasks went in waiting (a submission's misses, dependents just made ready): start the
   * executions their keys need; returns what completed meanwhile. Never throws.
   */
  async started(ids: string[]): Promise<OutcomeRow[]> {
    if (ids.length === 0) return [];
    return this.guard(async () => {
      const { queued, completed } = await this.entries.startTasks(ids);
      await this.queue.enqueue(queued);
      return completed;
    });
  }

  /** A submission with memoized tasks committed: start the executions its keys need; returns what completed meanwhile. Never throws. */
  async submitted(keys: string[]): Promise<OutcomeRow[]> {
    if (keys.length === 0) return [];
    return this.guard(async () => {
      const unique = [...new Set(keys)];
      await this.queue.enqueue(await this.entries.claimOrphans(unique));
      // an entry that became ready between the insert's read and its commit
      return this.entries.completeFollowers(unique);
    });
  }

  /**
   * These outcomes were recorded: fill or drop their entries; returns the waiting tasks that completed
   * with them. Never throws. An outcome whose facts say it is not memoized (an agent's results carry
   * them) has no entry: a frame of plain results costs no statement here.
   */
  async settled(rows: ReadonlyArray<{ id: string; cached_from?: string | null; facts?: { memoized: boolean } }>): Promise<OutcomeRow[]> {
    const ids = rows.filter((r) => !r.cached_from && r.facts?.memoized !== false).map((r) => r.id);
    if (ids.length === 0) return [];
    return this.guard(async () => this.follow(await this.entries.settle(ids)));
  }

  /**
   * Fills the entries of executions that have ended but whose entries are still pending (the moment
   * between a result's commit and its fill, or a replica that died in it); returns the waiting tasks that
   * completed with them. Never throws.
   */
  async settleEnded(): Promise<OutcomeRow[]> {
    return this.guard(async () => this.follow(await this.entries.settle(await this.entries.endedHolders(REPAIR_PAGE))));
  }

  /** The sweep's repair: ended executions nobody noticed, stranded waiting tasks, expired entries. */
  async repair(): Promise<OutcomeRow[]> {
    this.dirty = false;
    return this.guard(async () => {
      const out: OutcomeRow[] = [];
      const due = await this.entries.repairsDue(STRANDED_SECONDS);
      if (due.pending) {
        const holders = await this.entries.endedHolders(REPAIR_PAGE);
        if (holders.length) out.push(...(await this.follow(await this.entries.settle(holders))));
        const orphaned = await this.entries.dropOrphanedEntries(REPAIR_PAGE);
        if (orphaned.length) await this.queue.enqueue(await this.entries.releaseFollowers(orphaned));
      }
      if (due.waiting) {
        const stranded = await this.entries.strandedKeys(STRANDED_SECONDS, REPAIR_PAGE);
        if (stranded.length) out.push(...(await this.submitted(stranded)));
        const readers = await this.entries.releaseReaders(STRANDED_SECONDS, REPAIR_PAGE);
        if (readers.length) await this.queue.enqueue(readers);
      }
      if (due.expired) {
        const expired = await this.entries.deleteExpired(REPAIR_PAGE * 10);
        if (expired) this.logger.debug?.(`dropped ${expired} expired cache entries`);
      }
      return out;
    });
  }

  takeDirty(): boolean {
    return this.dirty;
  }

  private async follow(changes: EntryChange[]): Promise<OutcomeRow[]> {
    const filled = changes.filter((c) => c.how === 'filled').map((c) => c.key);
    const dropped = changes.filter((c) => c.how === 'dropped').map((c) => c.key);
    if (dropped.length) await this.queue.enqueue(await this.entries.releaseFollowers(dropped));
    return filled.length ? this.entries.completeFollowers(filled) : [];
  }

  private async guard(work: () => Promise<OutcomeRow[]>): Promise<OutcomeRow[]> {
    try {
      return await work();
    } catch (e) {
      // the keys and states are in PostgreSQL: the sweep finishes what this left
      this.dirty = true;
      this.logger.error(`memoized results: a step failed; the recovery sweep retries: ${(e as Error).message}`);
      return [];
    }
  }
}
