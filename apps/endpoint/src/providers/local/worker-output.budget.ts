/** How much of what a pool's workers print may reach the agent's log per window (see WorkerOutput). */
export interface OutputBudgetLimits {
  /** Bytes one share copies per window. */
  shareBytes: number;
  /**
   * Shares per window: one for each owner (a worker's owner: task owner and function author) as it first
   * prints in the window, the last one shared by every owner after them. 1: one for all of them.
   */
  shares: number;
  /** Dying workers' last output one share copies per window, past its bytes (see WorkerOutput). */
  tails: number;
  windowMs: number;
}

/** What `take` allows: `kept` of the bytes asked; `spent` when it used the share's last byte (`others`: the shared one). */
export interface OutputGrant {
  kept: number;
  spent?: 'owner' | 'others';
}

interface Share {
  left: number;
  tails: number;
}

/**
 * The pool's budget for workers' output, split in shares so that one owner's flood spends only its own.
 * Why fixed shares (and not a fair split of whatever is left): an owner that first prints late in the
 * window still finds its whole share, whoever printed before it, and the pool's total stays what it was
 * bound to be, `shares × (shareBytes + tails × a tail)` a window, however many owners print. Why a shared
 * last share: the owners tracked are bounded too (at most `shares - 1` named ones a window, forgotten when
 * it ends), so a pool that serves many owners within a minute costs no more memory than one that serves
 * two. Pure: the caller says what time it is.
 */
export class OutputBudget {
  private windowStart = Number.NEGATIVE_INFINITY;
  private readonly named = new Map<string, Share>();
  private others: Share;

  constructor(private readonly limits: OutputBudgetLimits) {
    if (!Number.isInteger(limits.shares) || limits.shares < 1) throw new RangeError(`shares must be a positive integer, got ${limits.shares}`);
    this.others = this.fresh();
  }

  /** How many of `bytes` that `owner`'s workers printed may be copied now. */
  take(owner: string, bytes: number, now: number): OutputGrant {
    const [share, shared] = this.shareOf(owner, now);
    if (share.left <= 0) return { kept: 0 };
    const kept = Math.min(bytes, share.left);
    share.left -= kept;
    return share.left === 0 ? { kept, spent: shared ? 'others' : 'owner' } : { kept };
  }

  /** Whether one more dying worker of `owner` may have its last output copied now. */
  takeTail(owner: string, now: number): boolean {
    const [share] = this.shareOf(owner, now);
    if (share.tails <= 0) return false;
    share.tails--;
    return true;
  }

  private shareOf(owner: string, now: number): [Share, boolean] {
    if (now - this.windowStart >= this.limits.windowMs) {
      this.windowStart = now;
      this.named.clear();
      this.others = this.fresh();
    }
    const known = this.named.get(owner);
    if (known) return [known, false];
    if (this.named.size >= this.limits.shares - 1) return [this.others, true];
    const share = this.fresh();
    this.named.set(owner, share);
    return [share, false];
  }

  private fresh(): Share {
    return { left: this.limits.shareBytes, tails: this.limits.tails };
  }
}

/**
 * The last `maxBytes` a worker printed that were not copied, in the order read, each piece with its
 * stream; emptied whenever something of the worker's is copied again (its last output is in the log then).
 * Bytes are copied in: a piece of a 64 KiB read must not keep the whole read alive.
 */
export class OutputTail<N extends string = string> {
  private pieces: { name: N; bytes: Buffer }[] = [];
  private size = 0;

  constructor(private readonly maxBytes: number) {}

  get bytes(): number {
    return this.size;
  }

  add(name: N, chunk: Buffer): void {
    if (this.maxBytes <= 0 || chunk.length === 0) return;
    const kept = Buffer.from(chunk.subarray(Math.max(0, chunk.length - this.maxBytes)));
    this.pieces.push({ name, bytes: kept });
    this.size += kept.length;
    while (this.size > this.maxBytes) {
      const first = this.pieces[0] as { name: N; bytes: Buffer };
      const over = this.size - this.maxBytes;
      if (first.bytes.length <= over) {
        this.pieces.shift();
        this.size -= first.bytes.length;
      } else {
        first.bytes = first.bytes.subarray(over);
        this.size -= over;
      }
    }
  }

  clear(): void {
    this.pieces = [];
    this.size = 0;
  }

  /** What it holds, oldest first; it is empty afterwards. */
  take(): { name: N; bytes: Buffer }[] {
    const pieces = this.pieces;
    this.clear();
    return pieces;
  }
}
