/**
 * The items of a live watch that its consumer has not taken yet. They arrive as fast as the task
 * prints (the socket is shared, so one slow consumer cannot slow the server down), so the queue is
 * bounded by bytes: past its bound it drops its oldest items, and folds each one it drops into the
 * item after it (`merge`), which then says what was dropped before it. The newest items are kept
 * because a consumer that falls behind a live stream wants to see where the task is now; what it missed
 * stays on the server (`logs` without `follow`).
 */
export class FollowQueue<T> {
  private entries: Array<{ item: T; bytes: number } | undefined> = [];
  private head = 0;
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
    return this.entries.length - this.head;
  }

  push(item: T): void {
    const bytes = this.weigh(item);
    this.entries.push({ item, bytes });
    this.bytes += bytes;
    while (this.bytes > this.maxBytes && this.length > 1) {
      const dropped = this.take()!;
      const next = this.entries[this.head]!;
      next.item = this.merge(dropped, next.item);
    }
  }

  /** The oldest item, or undefined when there is none. */
  shift(): T | undefined {
    return this.take();
  }

  private take(): T | undefined {
    const entry = this.entries[this.head];
    if (!entry) return undefined;
    this.entries[this.head++] = undefined;
    this.bytes -= entry.bytes;
    // taken entries are cut off once they are half the array: shift() on a long array costs its length each time
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return entry.item;
  }
}
