/**
 * A first-in first-out queue whose shift() does not cost its length: Array.prototype.shift moves every
 * item left, so a queue a fast producer filled (a 10,000-task batch's outcomes, a chatty task's log
 * lines) cost its length per take. A taken slot is cleared at once, so its item can be collected, and
 * the taken slots are cut off together once they are over half the array.
 */
export class FifoQueue<T> {
  private items: Array<T | undefined> = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The oldest item, left in the queue; undefined when there is none. */
  peek(): T | undefined {
    return this.items[this.head];
  }

  /** Takes the oldest item; undefined when there is none. */
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}
