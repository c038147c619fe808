import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Broker } from './broker.js';
import { toQueueEntry, type QueueEntry } from './queue-order.js';
import { defineBrokerScripts, loadBrokerScripts, type ScriptedRedis } from './broker.scripts.js';

export interface RedisBrokerOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Prefix of every key and channel, so that tests and deployments can share one Redis. @default 'fx:' */
  prefix?: string;
  /** How often to look for the sentinel key that tells whether Redis lost its data. @default 5000 */
  stateCheckIntervalMs?: number;
  /** Where connection trouble and failing callbacks are reported. */
  log?: (msg: string) => void;
  /** The folder of the broker's Lua scripts. @default lua/ beside broker.scripts.ts (src, or dist once built) */
  scriptsDir?: string;
}

/*
 * Layout, per endpoint:
 *   ${prefix}pq:${endpointId}  sorted set: the queued task ids, scored in queue order (queue-order.ts:
 *                              priority, then each owner's fair share); a claim is one ZPOPMIN
 *   ${prefix}pl:${endpointId}  hash: claimed task id → "consumer|claimed at (ms)|score" (delivery leases);
 *                              release and reclaim put an entry back with its score, so it goes where it was
 *   ${prefix}pf:${endpointId}  hash: the fair-queue clock of each priority level (`n:<level>`) and each
 *                              owner's last rank there (`o:<level>:<owner>`)
 * Enqueue skips ids in either of the first two. Every multi-step operation is one Lua script, so two
 * replicas never hand out the same id twice. The scripts are lua/<name>.lua, loaded at connect
 * (broker.scripts.ts). Releases before priorities kept queues as streams under q: and qi:; those keys
 * are no longer read, and the rebuild from PostgreSQL at start queues their tasks again.
 */

/** Queues per fxReclaim call: bounds how long one script holds Redis. */
const RECLAIM_CHUNK = 500;

interface Subscription {
  handlers: Set<(message: string) => void>;
  active: Promise<unknown>;
}

/**
 * The broker over Redis (streams with a consumer group for the queues, pub/sub for fan-out). Create it
 * with {@link RedisBroker.connect}, which fails with a clear sentence when Redis cannot be reached.
 */
export class RedisBroker implements Broker {
  readonly kind = 'redis' as const;
  private readonly prefix: string;
  private readonly log: (msg: string) => void;
  private subscriber: Redis | undefined;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly stateLostCallbacks: Array<() => void> = [];
  private epoch: string | null = null;
  private everReady = false;
  private stateCheck: Promise<void> | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly redis: ScriptedRedis,
    private readonly options: RedisBrokerOptions,
  ) {
    this.prefix = options.prefix ?? 'fx:';
    this.log = options.log ?? (() => {});
  }

  static async connect(options: RedisBrokerOptions): Promise<RedisBroker> {
    // Before connecting: a build without its scripts fails with a sentence naming the file, not at the first enqueue.
    const scripts = await loadBrokerScripts(options.scriptsDir);
    let connectedOnce = false;
    const redis = defineBrokerScripts(
      new Redis(options.url, {
        lazyConnect: true,
        // Fail fast at start-up (the server refuses to start); after that, retry forever as ioredis does.
        retryStrategy: (times) => (connectedOnce ? Math.min(times * 50, 2000) : null),
      }),
      scripts,
    );
    redis.once('ready', () => (connectedOnce = true));
    const broker = new RedisBroker(redis, options);
    // ioredis reports connection failures here and retries by itself; unheard, they would crash node.
    redis.on('error', (err: Error) => broker.log(`redis: ${err.message}`));
    redis.on('ready', () => broker.onReady());
    try {
      await redis.connect();
      await broker.checkState(false);
    } catch (err) {
      // Already ended when the connection itself failed; disconnecting then would only arm a 2 s timer.
      if (redis.status !== 'end') redis.disconnect();
      throw new Error(`cannot connect to Redis at ${redactUrl(options.url)}: ${(err as Error).message}`, { cause: err });
    }
    broker.timer = setInterval(() => void broker.periodicCheck(), options.stateCheckIntervalMs ?? 5000);
    broker.timer.unref();
    return broker;
  }

  private key(kind: string, endpointId: string): string {
    return `${this.prefix}${kind}:${endpointId}`;
  }

  async enqueue(endpointId: string, tasks: ReadonlyArray<string | QueueEntry>): Promise<void> {
    if (tasks.length === 0) return;
    const args: Array<string | number> = [];
    for (const t of tasks) {
      const { id, priority, owner } = toQueueEntry(t);
      args.push(id, priority, owner);
    }
    await this.redis.fxEnqueue(this.key('pq', endpointId), this.key('pl', endpointId), this.key('pf', endpointId), ...args);
  }

  async claim(endpointId: string, consumerId: string, max: number): Promise<string[]> {
    const count = Math.floor(max);
    // ZPOPMIN with COUNT 0 would pop nothing, but a script call for nothing is a round trip wasted
    if (!(count > 0)) return [];
    return this.redis.fxClaim(this.key('pq', endpointId), this.key('pl', endpointId), this.key('pf', endpointId), consumerId, count);
  }

  async settle(endpointId: string, taskIds: readonly string[]): Promise<void> {
    if (taskIds.length === 0) return;
    await this.redis.fxSettle(this.key('pl', endpointId), ...taskIds);
  }

  release(endpointId: string, consumerId: string): Promise<string[]> {
    return this.redis.fxRelease(this.key('pq', endpointId), this.key('pl', endpointId), consumerId);
  }

  async reclaimStale(endpointId: string, minIdleMs: number): Promise<number> {
    return (await this.reclaimStaleMany([endpointId], minIdleMs))[0] ?? 0;
  }

  async reclaimStaleMany(endpointIds: readonly string[], minIdleMs: number): Promise<number[]> {
    const counts: number[] = [];
    for (let i = 0; i < endpointIds.length; i += RECLAIM_CHUNK) {
      const keys = endpointIds.slice(i, i + RECLAIM_CHUNK).flatMap((id) => [this.key('pq', id), this.key('pl', id)]);
      counts.push(...(await this.redis.fxReclaim(keys.length, ...keys, Math.max(0, Math.floor(minIdleMs)))));
    }
    return counts;
  }

  depth(endpointId: string): Promise<number> {
    return this.redis.zcard(this.key('pq', endpointId));
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.redis.publish(this.prefix + channel, message);
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<() => Promise<void>> {
    const sub = await this.subscriberConnection();
    const name = this.prefix + channel;
    // A wrapper per call, so that subscribing the same function twice gives two independent subscriptions.
    const wrapped = (message: string) => handler(message);
    let entry = this.subscriptions.get(name);
    if (!entry) {
      entry = { handlers: new Set(), active: sub.subscribe(name) };
      this.subscriptions.set(name, entry);
    }
    entry.handlers.add(wrapped);
    try {
      await entry.active;
    } catch (err) {
      entry.handlers.delete(wrapped);
      if (entry.handlers.size === 0 && this.subscriptions.get(name) === entry) this.subscriptions.delete(name);
      throw err;
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      const current = this.subscriptions.get(name);
      if (!current) return;
      current.handlers.delete(wrapped);
      if (current.handlers.size > 0) return;
      this.subscriptions.delete(name);
      if (!this.closed) await sub.unsubscribe(name);
    };
  }

  private async subscriberConnection(): Promise<Redis> {
    if (this.closed) throw new Error('the Redis broker is closed');
    if (this.subscriber) return this.subscriber;
    // A connection in subscriber mode can run no other command, hence a second one. ioredis
    // resubscribes it by itself after a reconnect.
    const sub = this.redis.duplicate();
    this.subscriber = sub;
    sub.on('error', (err: Error) => this.log(`redis subscriber: ${err.message}`));
    sub.on('message', (channel: string, message: string) => {
      const entry = this.subscriptions.get(channel);
      if (!entry) return;
      for (const handler of [...entry.handlers]) {
        try {
          handler(message);
        } catch (err) {
          this.log(`subscriber of ${channel} failed: ${(err as Error).stack ?? String(err)}`);
        }
      }
    });
    if (sub.status === 'wait') await sub.connect();
    return sub;
  }

  async health(): Promise<boolean> {
    if (this.closed || this.redis.status !== 'ready') return false;
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  onStateLost(callback: () => void): void {
    this.stateLostCallbacks.push(callback);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.subscriptions.clear();
    await Promise.all([quit(this.redis), this.subscriber ? quit(this.subscriber) : undefined]);
  }

  private onReady(): void {
    if (!this.everReady) {
      this.everReady = true; // the first connection: connect() checks the sentinel itself
      return;
    }
    // Back after an outage: Redis may have restarted without persistence, or dropped writes meanwhile.
    this.checkState(true).catch((err: Error) => this.log(`redis: cannot check state after reconnecting: ${err.message}`));
  }

  private async periodicCheck(): Promise<void> {
    // Offline, commands would only pile up in ioredis's queue; the reconnect is checked by onReady.
    if (this.closed || this.stateCheck || this.redis.status !== 'ready') return;
    try {
      await this.checkState(false);
    } catch (err) {
      this.log(`redis: state check failed: ${(err as Error).message}`);
    }
  }

  /**
   * The sentinel holds an epoch token: a FLUSHALL or a restart without persistence removes it. Whoever
   * notices first writes a new token; every replica whose remembered token differs then fires, so all
   * of them learn of the loss, not just the first.
   */
  private checkState(reconnected: boolean): Promise<void> {
    // Serialised, so that a reconnect arriving during a periodic check is still reported.
    const previous = this.stateCheck ?? Promise.resolve();
    const run = previous.catch(() => {}).then(() => this.compareEpoch(reconnected));
    this.stateCheck = run;
    void run
      .finally(() => {
        if (this.stateCheck === run) this.stateCheck = undefined;
      })
      .catch(() => {});
    return run;
  }

  private async compareEpoch(reconnected: boolean): Promise<void> {
    const key = `${this.prefix}broker:epoch`;
    let current = await this.redis.get(key);
    if (current === null) {
      await this.redis.set(key, randomUUID(), 'NX');
      current = await this.redis.get(key);
    }
    const first = this.epoch === null;
    const changed = !first && current !== this.epoch;
    this.epoch = current;
    if (reconnected || changed) this.fireStateLost();
  }

  private fireStateLost(): void {
    if (this.closed) return;
    for (const callback of this.stateLostCallbacks) {
      try {
        callback();
      } catch (err) {
        this.log(`a broker state-lost callback failed: ${(err as Error).stack ?? String(err)}`);
      }
    }
  }
}

async function quit(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  await redis.quit().catch(() => redis.disconnect());
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an unparsable URL)';
  }
}
