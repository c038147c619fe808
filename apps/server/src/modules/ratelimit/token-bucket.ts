/**
 * Token buckets keyed by token id: each key holds up to `burst` requests and refills at `perSecond`.
 * In memory, per replica: a limit of N/s on each of R replicas lets a token make up to R × N/s in all,
 * which is what the limit is for (keeping one token from swamping a server), at no cost on the hot path.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Takes one request from `key`'s bucket: 0 when allowed, else the milliseconds until one is. */
  take(key: string): number {
    const now = this.now();
    let b = this.buckets.get(key);
    if (b) {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
      b.at = now;
    } else {
      if (this.buckets.size >= this.maxKeys) this.evictFull(now);
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / this.perSecond) * 1000);
  }

  get size(): number {
    return this.buckets.size;
  }

  /** A bucket that has refilled completely says nothing a fresh one would not: drop those. */
  private evictFull(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(key);
    }
    // every token is busy: forget the oldest entries rather than grow without bound
    for (const key of this.buckets.keys()) {
      if (this.buckets.size < this.maxKeys) break;
      this.buckets.delete(key);
    }
  }
}
