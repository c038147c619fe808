import type { Broker } from './broker.js';
import { FairClock, ScoredHeap, toQueueEntry, type QueueEntry, type Scored } from './queue-order.js';

interface Pending extends Scored {
  consumerId: string;
  claimedAt: number;
}

class EndpointQueue {
  /** Queued ids, in queue order (queue-order.ts); released and reclaimed ones go back with their score. */
  queued = new ScoredHeap<Scored>();
  clock = new FairClock();
  pending = new Map<string, Pending>();
  /** Every id queued or pending here: enqueue skips these, as the Redis broker does. */
  known = new Set<string>();

  putBack(entries: Scored[]): void {
    for (const e of entries) this.queued.push({ taskId: e.taskId, score: e.score });
  }
}

export interface MemoryBrokerOptions {
  /** The clock that claim times and reclaimStale use. @default Date.now */
  now?: () => number;
  /** Where failing subscribers are reported. */
  log?: (msg: string) => void;
}

/**
 * The in-process broker for a single server without Redis: the same semantics as RedisBroker, state in
 * memory. Messages are delivered asynchronously, as they would be over Redis, so that callers cannot come
 * to rely on a publish running its subscribers before it returns.
 */
export class MemoryBroker implements Broker {
  readonly kind = 'memory' as const;
  private readonly queues = new Map<string, EndpointQueue>();
  private readonly channels = new Map<string, Set<(message: string) => void>>();
  private closed = false;

  private readonly now: () => number;
  private readonly log: (msg: string) => void;

  constructor(options: MemoryBrokerOptions = {}) {
    this.now = options.now ?? Date.now;
    this.log = options.log ?? (() => {});
  }

  private queue(endpointId: string): EndpointQueue {
    let q = this.queues.get(endpointId);
    if (!q) {
      q = new EndpointQueue();
      this.queues.set(endpointId, q);
    }
    return q;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the in-process broker is closed');
  }

  async enqueue(endpointId: string, tasks: ReadonlyArray<string | QueueEntry>): Promise<void> {
    this.assertOpen();
    const q = this.queue(endpointId);
    for (const task of tasks) {
      const { id, priority, owner } = toQueueEntry(task);
      if (q.known.has(id)) continue;
      q.known.add(id);
      q.queued.push({ taskId: id, score: q.clock.score(priority, owner) });
    }
  }

  async claim(endpointId: string, consumerId: string, max: number): Promise<string[]> {
    this.assertOpen();
    const q = this.queues.get(endpointId);
    const count = Math.floor(max);
    if (!q || !(count > 0)) return [];
    const claimedAt = this.now();
    const taken: string[] = [];
    while (taken.length < count) {
      const e = q.queued.pop();
      if (!e) break;
      q.clock.claimed(e.score);
      q.pending.set(e.taskId, { ...e, consumerId, claimedAt });
      taken.push(e.taskId);
    }
    return taken;
  }

  async settle(endpointId: string, taskIds: readonly string[]): Promise<void> {
    this.assertOpen();
    const q = this.queues.get(endpointId);
    if (!q) return;
    for (const taskId of taskIds) {
      // Only a claimed id can be settled; a queued one stays queued (Redis acks pending entries only).
      if (q.pending.delete(taskId)) q.known.delete(taskId);
    }
  }

  async release(endpointId: string, consumerId: string): Promise<string[]> {
    this.assertOpen();
    const q = this.queues.get(endpointId);
    if (!q) return [];
    const released = [...q.pending.values()].filter((p) => p.consumerId === consumerId).sort(inQueueOrder);
    for (const e of released) q.pending.delete(e.taskId);
    q.putBack(released);
    return released.map((e) => e.taskId);
  }

  async reclaimStaleMany(endpointIds: readonly string[], minIdleMs: number): Promise<number[]> {
    const counts: number[] = [];
    for (const id of endpointIds) counts.push(await this.reclaimStale(id, minIdleMs));
    return counts;
  }

  async reclaimStale(endpointId: string, minIdleMs: number): Promise<number> {
    this.assertOpen();
    const q = this.queues.get(endpointId);
    if (!q) return 0;
    const cutoff = this.now() - minIdleMs;
    const stale = [...q.pending.values()].filter((p) => p.claimedAt <= cutoff);
    for (const e of stale) q.pending.delete(e.taskId);
    q.putBack(stale);
    return stale.length;
  }

  async depth(endpointId: string): Promise<number> {
    this.assertOpen();
    const q = this.queues.get(endpointId);
    return q ? q.queued.size : 0;
  }

  async publish(channel: string, message: string): Promise<void> {
    this.assertOpen();
    const handlers = this.channels.get(channel);
    if (!handlers) return;
    // Snapshot now: a subscriber added after publish returns must not see this message (as with Redis).
    for (const handler of [...handlers]) {
      queueMicrotask(() => {
        if (!this.channels.get(channel)?.has(handler)) return;
        try {
          handler(message);
        } catch (err) {
          this.log(`subscriber of ${channel} failed: ${(err as Error).stack ?? String(err)}`);
        }
      });
    }
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<() => Promise<void>> {
    this.assertOpen();
    // A wrapper per call, so that subscribing the same function twice gives two independent subscriptions.
    const wrapped = (message: string) => handler(message);
    let handlers = this.channels.get(channel);
    if (!handlers) {
      handlers = new Set();
      this.channels.set(channel, handlers);
    }
    handlers.add(wrapped);
    return async () => {
      const set = this.channels.get(channel);
      if (!set) return;
      set.delete(wrapped);
      if (set.size === 0) this.channels.delete(channel);
    };
  }

  async health(): Promise<boolean> {
    return !this.closed;
  }

  onStateLost(_callback: () => void): void {
    // In-process state is lost only with the process itself, and then the server starts afresh.
  }

  async close(): Promise<void> {
    this.closed = true;
    this.channels.clear();
    this.queues.clear();
  }
}

function inQueueOrder(a: Scored, b: Scored): number {
  return a.score - b.score || (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0);
}
