import type { QueueEntry } from './queue-order.js';

/**
 * The broker is the fast path between REST submission and the agents' sockets, and the fan-out of
 * results across server replicas. It never holds the only copy of anything: PostgreSQL does
 * (docs/design.md, invariants 1 and 5). Redis and the in-process broker implement this one interface.
 *
 * Delivery leases: `claim` hands queued task ids to a consumer (one server replica's dispatcher) and
 * keeps them pending under that consumer until `settle`. A consumer that dies leaves pending entries
 * behind; `reclaimStale` returns entries pending longer than `minIdleMs` to their queue. The lease of a
 * task *held by an agent* lives in PostgreSQL (tasks.lease_owner / lease_expires_at), not here.
 */
export interface Broker {
  readonly kind: 'redis' | 'memory';

  /**
   * Queues tasks on the endpoint's queue in one round trip, each by its priority and, within a priority,
   * fairly between owners (queue-order.ts); ids already queued or claimed are skipped. A bare id is a
   * task of the default priority and an anonymous owner.
   */
  enqueue(endpointId: string, tasks: ReadonlyArray<string | QueueEntry>): Promise<void>;

  /** Takes up to `max` ids from the head of the endpoint's queue (queue-order.ts), pending under `consumerId`. */
  claim(endpointId: string, consumerId: string, max: number): Promise<string[]>;

  /** Forgets claimed ids for good (they are now recorded in PostgreSQL). */
  settle(endpointId: string, taskIds: readonly string[]): Promise<void>;

  /** Puts every id pending under `consumerId` for this endpoint back in the queue, where it was (ahead of newer ones); returns them in queue order. */
  release(endpointId: string, consumerId: string): Promise<string[]>;

  /** Returns to their queues the entries pending longer than `minIdleMs` under any consumer; returns how many. */
  reclaimStale(endpointId: string, minIdleMs: number): Promise<number>;

  /** `reclaimStale` for many endpoints in one round trip; how many per endpoint, in the same order. */
  reclaimStaleMany(endpointIds: readonly string[], minIdleMs: number): Promise<number[]>;

  /** Number of ids queued (not claimed) for the endpoint. */
  depth(endpointId: string): Promise<number>;

  /** Publishes a message on a channel to every subscriber in every replica. */
  publish(channel: string, message: string): Promise<void>;

  /** Subscribes; resolves once the subscription is active. Returns an unsubscribe function. */
  subscribe(channel: string, handler: (message: string) => void): Promise<() => Promise<void>>;

  /** True when the broker answers. */
  health(): Promise<boolean>;

  /**
   * Registers a callback for when the broker may have lost its state (Redis restarted, FLUSHALL, or a
   * reconnect after an outage). The server then rebuilds the queues from PostgreSQL.
   */
  onStateLost(callback: () => void): void;

  close(): Promise<void>;
}

export interface BrokerOptions {
  /** Prefix of every key and channel, so that tests and deployments can share one Redis. @default 'fx:' */
  prefix?: string;
}
