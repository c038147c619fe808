import { priorityIndex, priorityOf } from './priority-order.js';

/**
 * The agent's intake queue order: higher priority first and, within a priority, fair between the
 * tasks' owners (users sharing the endpoint through an endpoint group), the same rule as the server's
 * queue (start-time fair queuing, one per task; see apps/server/src/storage/queue-order.ts). An owner
 * whose 256 prefetched tasks wait here does not keep another owner's task behind all of them: that one
 * gets the rank after the last task taken at its priority, so it goes next but for those of equal rank.
 */
export class FairOrder<T extends { priority?: number | undefined; ownerId?: string | undefined }> {
  /** Per priority: the rank of the last task taken. */
  private readonly clock = new Map<number, number>();
  /** Per (priority, owner): the last rank handed out. */
  private readonly last = new Map<string, number>();
  private readonly ranks = new WeakMap<T, number>();

  /** Inserts `item` into `list` (kept in this order). */
  insert(list: T[], item: T): void {
    const priority = priorityOf(item);
    const key = `${priority}:${item.ownerId ?? ''}`;
    const rank = Math.max((this.last.get(key) ?? 0) + 1, (this.clock.get(priority) ?? 0) + 1);
    this.last.set(key, rank);
    this.ranks.set(item, rank);
    // past the items of higher priority, then by rank among those of this priority (ties: first come)
    let lo = priorityIndex(list, priority, priorityOf, 0, true);
    let hi = priorityIndex(list, priority, priorityOf, lo);
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.ranks.get(list[mid]!) ?? 0) <= rank) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, item);
  }

  /** `item` left the queue to run: its rank is the clock of its priority. */
  taken(item: T): void {
    const priority = priorityOf(item);
    const rank = this.ranks.get(item);
    if (rank !== undefined && rank > (this.clock.get(priority) ?? 0)) this.clock.set(priority, rank);
  }

  /** Forgets ranks (the queue was emptied): owners start level again. */
  clear(): void {
    this.clock.clear();
    this.last.clear();
  }
}
