import type { TaskOutcome } from '@fx/protocol';

/** Most outcomes kept from submissions' answers until someone waits for them. */
export const MAX_INLINE_OUTCOMES = 100_000;

/**
 * The final outcomes a ResultChannel knows without asking the server: those already delivered (an LRU
 * of `cacheSize`, 0 for none), and those a batch's answer carried (SubmitBatchResponse.cachedResults,
 * the cache's hits), kept apart until their first wait takes them, so that a batch of many hits does
 * not wait on a small LRU. That wait needs no subscription, and the server, which does not relay them,
 * has nothing to send. Past MAX_INLINE_OUTCOMES the oldest go; a wait on one of those subscribes as
 * before and the server reads it back: an outcome is never lost, at worst fetched again.
 */
export class KnownOutcomes {
  /** A Map keeps insertion order, which makes it a cheap LRU. */
  private readonly cache = new Map<string, TaskOutcome>();
  private readonly inline = new Map<string, TaskOutcome>();

  constructor(
    private readonly cacheSize: number,
    private readonly maxInline = MAX_INLINE_OUTCOMES,
  ) {}

  /** The known outcome of this task; one from an answer moves to the LRU as its wait takes it. */
  get(taskId: string): TaskOutcome | undefined {
    const hit = this.cache.get(taskId);
    if (hit) return hit;
    const inline = this.inline.get(taskId);
    if (!inline) return undefined;
    this.inline.delete(taskId);
    return this.remember(inline);
  }

  has(taskId: string): boolean {
    return this.cache.has(taskId) || this.inline.has(taskId);
  }

  /** A delivered outcome. */
  remember(outcome: TaskOutcome): TaskOutcome {
    if (this.cacheSize > 0) bounded(this.cache, outcome, this.cacheSize);
    return outcome;
  }

  /** An outcome from a submission's answer, nobody waiting for it yet. */
  keep(outcome: TaskOutcome): void {
    bounded(this.inline, outcome, this.maxInline);
  }

  clear(): void {
    this.cache.clear();
    this.inline.clear();
  }
}

function bounded(map: Map<string, TaskOutcome>, outcome: TaskOutcome, max: number): void {
  map.delete(outcome.taskId);
  map.set(outcome.taskId, outcome);
  if (map.size > max) map.delete(map.keys().next().value!);
}
