import type { Broker } from './broker.js';

interface Entry {
  taskId: string;
  /** Enqueue order: released entries go back in front of newer ones, in this order. */
  seq: number;
}

interface Pending extends Entry {
  consumerId: string;
  claimedAt: number;
}

class EndpointQueue {
  /** Never claimed, oldest first. */
  fresh: Entry[] = [];
  /** Released or reclaimed: handed out before `fresh`, lowest seq first (the Redis broker's order too). */
  returned: Entry[] = [];
  pending = new Map<string, Pending>();
  /** Every id queued or pending here: enqueue skips these, as the Redis broker does. */
  known = new Set<string>();

  putBack(entries: Entry[]): void {
    this.returned.push(...entries);
    this.returned.sort((a, b) => a.seq - b.seq);
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
  private seq = 0;
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

  async enqueue(endpointId: string, taskIds: readonly string[]): Promise<void> {
    this.assertOpen();
    const q = this.queue(endpointId);
    for (const taskId of taskIds) {
      if (q.known.has(taskId)) continue;
      q.known.add(taskId);
      q.fresh.push({ taskId, seq: this.seq++ });
    }
  }

  async claim(endpointId: string, consumerId: string, max: number): Promise<string[]> {
    this.assertOpen();
    const q = this.queues.get(endpointId);
    const count = Math.floor(max);
    if (!q || !(count > 0)) return [];
    const fromReturned = q.returned.splice(0, count);
    const taken = fromReturned.concat(q.fresh.splice(0, count - fromReturned.length));
    const claimedAt = this.now();
    for (const e of taken) q.pending.set(e.taskId, { ...e, consumerId, claimedAt });
    return taken.map((e) => e.taskId);
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
    const released: Entry[] = [];
    for (const p of q.pending.values()) {
      if (p.consumerId === consumerId) released.push({ taskId: p.taskId, seq: p.seq });
    }
    released.sort((a, b) => a.seq - b.seq);
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
    const stale: Entry[] = [];
    for (const p of q.pending.values()) {
      if (p.claimedAt <= cutoff) stale.push({ taskId: p.taskId, seq: p.seq });
    }
    for (const e of stale) q.pending.delete(e.taskId);
    q.putBack(stale);
    return stale.length;
  }

  async depth(endpointId: string): Promise<number> {
    this.assertOpen();
    const q = this.queues.get(endpointId);
    return q ? q.fresh.length + q.returned.length : 0;
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
