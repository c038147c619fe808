import type { TaskOutcome } from '@fx/protocol';

/** Most outcomes kept from submissions' answers until someone waits for them. */
export const MAX_INLINE_OUTCOMES = 100_000;

/**
 * How much the outcomes kept may weigh, about (estimateSize): results are as large as the functions
 * that made them choose (another user's public function's, too), and a count alone let 1,000
 * delivered 10 MiB results hold 10 GiB. `cache`: delivered outcomes, in all; `each`: a delivered
 * outcome larger than this is handed over and never kept; `inline`: a submission's answer's, in all.
 */
export const KNOWN_OUTCOME_BYTES = Object.freeze({ cache: 64 * 1024 * 1024, each: 1024 * 1024, inline: 256 * 1024 * 1024 });

/**
 * About how many bytes `value` takes as JSON, counted only up to `cap`: anything past it answers
 * more than `cap`, having walked about `cap` characters' worth of it, so a large result costs no
 * more to size than a small one. Strings count their length, other leaves 8.
 */
export function estimateSize(value: unknown, cap: number): number {
  let size = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && size <= cap) {
    const v = stack.pop();
    if (typeof v === 'string') size += v.length + 3;
    else if (Array.isArray(v)) {
      size += 2;
      for (const item of v) {
        stack.push(item);
        if (++size > cap) break;
      }
    } else if (v !== null && typeof v === 'object') {
      size += 2;
      for (const key in v) {
        stack.push((v as Record<string, unknown>)[key]);
        if ((size += key.length + 4) > cap) break;
      }
    } else size += 8;
  }
  return size;
}

/** Outcomes by task id, oldest first, within a count and a byte budget; the oldest go to make room. */
class OutcomeLru {
  /** A Map keeps insertion order, which makes it a cheap LRU. */
  private readonly map = new Map<string, { outcome: TaskOutcome; size: number }>();
  private bytes = 0;

  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
    private readonly maxEach: number,
  ) {}

  get(taskId: string): TaskOutcome | undefined {
    return this.map.get(taskId)?.outcome;
  }

  has(taskId: string): boolean {
    return this.map.has(taskId);
  }

  delete(taskId: string): void {
    const entry = this.map.get(taskId);
    if (!entry) return;
    this.map.delete(taskId);
    this.bytes -= entry.size;
  }

  /** Keeps it as the newest, unless it alone is past maxEach or the whole budget. */
  set(outcome: TaskOutcome): void {
    this.delete(outcome.taskId);
    if (this.maxCount <= 0) return;
    const limit = Math.min(this.maxEach, this.maxBytes);
    const size = estimateSize(outcome, limit);
    if (size > limit) return;
    this.map.set(outcome.taskId, { outcome, size });
    this.bytes += size;
    for (const [id] of this.map) {
      if (this.map.size <= this.maxCount && this.bytes <= this.maxBytes) break;
      this.delete(id);
    }
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}

/**
 * The final outcomes a ResultChannel knows without asking the server: those already delivered (an LRU
 * of `cacheSize`, 0 for none), and those a batch's answer carried (SubmitBatchResponse.cachedResults,
 * the cache's hits), kept apart until their first wait takes them, so that a batch of many hits does
 * not wait on a small LRU. That wait needs no subscription, and the server, which does not relay them,
 * has nothing to send. Past MAX_INLINE_OUTCOMES the oldest go; a wait on one of those subscribes as
 * before and the server reads it back: an outcome is never lost, at worst fetched again. Both are
 * bounded in bytes too (KNOWN_OUTCOME_BYTES).
 */
export class KnownOutcomes {
  private readonly cache: OutcomeLru;
  private readonly inline: OutcomeLru;

  constructor(cacheSize: number, maxInline = MAX_INLINE_OUTCOMES, bytes: typeof KNOWN_OUTCOME_BYTES = KNOWN_OUTCOME_BYTES) {
    this.cache = new OutcomeLru(cacheSize, bytes.cache, bytes.each);
    this.inline = new OutcomeLru(maxInline, bytes.inline, bytes.inline);
  }

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
    this.cache.set(outcome);
    return outcome;
  }

  /** An outcome from a submission's answer, nobody waiting for it yet. */
  keep(outcome: TaskOutcome): void {
    this.inline.set(outcome);
  }

  clear(): void {
    this.cache.clear();
    this.inline.clear();
  }
}
