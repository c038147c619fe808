import { FifoQueue } from './fifo-queue.js';

/**
 * The items of a live watch that its consumer has not taken yet. They arrive as fast as the task
 * prints (the socket is shared, so one slow consumer cannot slow the server down), so the queue is
 * bounded by bytes: past its bound it drops its oldest items, and folds each one it drops into the
 * item after it (`merge`), which then says what was dropped before it. The newest items are kept
 * because a consumer that falls behind a live stream wants to see where the task is now; what it missed
 * stays on the server (`logs` without `follow`).
 */
export class FollowQueue<T> {
  private readonly entries = new FifoQueue<{ item: T; bytes: number }>();
  private bytes = 0;

  /**
   * @param maxBytes bytes of items held at most (but always the newest item, however large)
   * @param weigh the bytes an item holds
   * @param merge the item after a dropped one, saying that `dropped` (and what it had absorbed) was dropped before it
   */
  constructor(
    private readonly maxBytes: number,
    private readonly weigh: (item: T) => number,
    private readonly merge: (dropped: T, next: T) => T,
  ) {}

  get length(): number {
    return this.entries.length;
  }

  push(item: T): void {
    const bytes = this.weigh(item);
    this.entries.push({ item, bytes });
    this.bytes += bytes;
    while (this.bytes > this.maxBytes && this.length > 1) {
      const dropped = this.take()!;
      const next = this.entries.peek()!;
      next.item = this.merge(dropped, next.item);
    }
  }

  /** The oldest item, or undefined when there is none. */
  shift(): T | undefined {
    return this.take();
  }

  private take(): T | undefined {
    const entry = this.entries.shift();
    if (!entry) return undefined;
    this.bytes -= entry.bytes;
    return entry.item;
  }
}
