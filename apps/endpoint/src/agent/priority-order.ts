/**
 * The order every queue of the agent keeps (its intake, the local worker pool, each worker's own queue,
 * shell tasks waiting for a slot, tasks waiting for a Slurm slot): higher priority first, first come
 * first served within a priority. Imports nothing, so the js worker process can use it cheaply.
 */

/** A task's priority as the agent orders it: the protocol's DEFAULT_TASK_PRIORITY when it has none. */
export function priorityOf(item: { priority?: number | undefined }): number {
  return item.priority ?? 5;
}

/**
 * Where an item of this priority goes in `list` (sorted as above from `from` on): after every item of a
 * priority at least as high, or, `ahead`, before those of its own priority (an item that was queued
 * before them and comes back, such as a task a worker gave back). Never before `from`.
 */
export function priorityIndex<T>(list: readonly T[], priority: number, priorityOfItem: (item: T) => number, from = 0, ahead = false): number {
  let lo = Math.min(from, list.length);
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const p = priorityOfItem(list[mid]!);
    if (p > priority || (!ahead && p === priority)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Inserts `item` where priorityIndex says. */
export function insertByPriority<T>(list: T[], item: T, priorityOfItem: (item: T) => number, from = 0, ahead = false): void {
  list.splice(priorityIndex(list, priorityOfItem(item), priorityOfItem, from, ahead), 0, item);
}
