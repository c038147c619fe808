import { DEFAULT_TASK_PRIORITY, MAX_TASK_PRIORITY } from '@fx/protocol';

/**
 * The order of an endpoint's queue: higher priority first; within a priority, fair between owners
 * (start-time fair queuing with a cost of one per task). Every queued task gets a score, and a claim
 * takes the lowest scores first, so the Redis broker can keep a queue as one sorted set and claim a
 * whole frame with one ZPOPMIN. The Redis broker's Lua (lua/includes/fair-queue.lua) computes the same
 * scores; broker.spec.ts runs one suite against both brokers.
 *
 * score = level × RANK_SPAN + rank, level = 9 − priority. Each (level, owner) hands out ranks that grow
 * by one per task, but never from behind the level's clock (the rank of the last task claimed at that
 * level): an owner who queues 100,000 tasks takes ranks clock+1 … clock+100,000, and another owner's
 * single task queued after them takes clock+1, so it goes in the next claim, not after the 100,000.
 * Owners with tasks at one level share its claims one for one. Ties go by task id, as in a sorted set.
 */
export const RANK_SPAN = 2 ** 44;

/** A task as queued: a bare id stands for the default priority and an anonymous owner. */
export type QueueEntry = { id: string; priority: number; owner: string };

export function toQueueEntry(e: string | QueueEntry): QueueEntry {
  return typeof e === 'string' ? { id: e, priority: DEFAULT_TASK_PRIORITY, owner: '' } : e;
}

export function levelOf(priority: number): number {
  return MAX_TASK_PRIORITY - Math.min(MAX_TASK_PRIORITY, Math.max(0, Math.trunc(priority)));
}

/** The clock and the owners' last ranks of one endpoint's queue: what the score of a new task depends on. */
export class FairClock {
  private readonly now = new Map<number, number>();
  private readonly last = new Map<string, number>();

  /** The score of a task queued now. */
  score(priority: number, owner: string): number {
    const level = levelOf(priority);
    const key = `${level}:${owner}`;
    const rank = Math.max((this.last.get(key) ?? 0) + 1, (this.now.get(level) ?? 0) + 1);
    this.last.set(key, rank);
    return level * RANK_SPAN + rank;
  }

  /** A task with this score was claimed: its level's clock moves up to it. */
  claimed(score: number): void {
    const level = Math.floor(score / RANK_SPAN);
    const rank = score - level * RANK_SPAN;
    if (rank > (this.now.get(level) ?? 0)) this.now.set(level, rank);
  }
}

export type Scored = { taskId: string; score: number };

/** Lowest score first, then lowest id: the order of a Redis sorted set. */
export function before(a: Scored, b: Scored): boolean {
  return a.score < b.score || (a.score === b.score && a.taskId < b.taskId);
}

/** A binary min-heap in queue order: the in-process broker's queue of one endpoint. */
export class ScoredHeap<T extends Scored> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const a = this.items;
    let i = a.length;
    a.push(item);
    // sift up: move parents down until the item's place is found
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(item, a[parent]!)) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = item;
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    // sift down: move the smaller child up until the last item's place is found
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const c = l + 1 < a.length && before(a[l + 1]!, a[l]!) ? l + 1 : l;
      if (!before(a[c]!, last)) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }
}
