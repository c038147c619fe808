import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Broker } from './broker.js';

export interface RedisBrokerOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Prefix of every key and channel, so that tests and deployments can share one Redis. @default 'fx:' */
  prefix?: string;
  /** How often to look for the sentinel key that tells whether Redis lost its data. @default 5000 */
  stateCheckIntervalMs?: number;
  /** Where connection trouble and failing callbacks are reported. */
  log?: (msg: string) => void;
}

/*
 * Layout, per endpoint:
 *   ${prefix}q:${endpointId}   stream; one entry per queued or claimed task id (field `t`), group `g`
 *   ${prefix}qi:${endpointId}  hash task id → stream entry id, so that any replica can settle by task id
 *                              and enqueue can skip ids that are already queued or claimed
 * A claimed entry is pending (in the group's PEL) under the claiming consumer. Released and reclaimed
 * entries stay in the PEL but move to the reserved consumer RETURNED; claim takes those first, oldest
 * entry first, and only then reads new entries with `>`. That is how "back at the head of the queue"
 * works on a stream, which cannot prepend: re-adding would put them behind everything queued since.
 * Every multi-step operation is one Lua script, so two replicas never hand out the same id twice.
 */
const GROUP = 'g';
const RETURNED = 'fx:returned';

// Recreates the group after FLUSHALL or a restart without persistence (NOGROUP otherwise). At id 0, not
// `$`, so that a stream that survived without its group is still delivered from its first entry.
const ENSURE_GROUP = `
local function ensure_group(q)
  local r = redis.pcall('XGROUP', 'CREATE', q, '${GROUP}', '0', 'MKSTREAM')
  if type(r) == 'table' and r.err and not string.find(r.err, 'BUSYGROUP', 1, true) then
    return redis.error_reply(r.err)
  end
  return nil
end
local function claim_into(q, consumer, minidle, ids, out)
  for i = 1, #ids, 500 do
    local chunk = {}
    for j = i, math.min(i + 499, #ids) do chunk[#chunk + 1] = ids[j] end
    local claimed = redis.call('XCLAIM', q, '${GROUP}', consumer, minidle, unpack(chunk))
    for _, e in ipairs(claimed) do
      -- an entry deleted behind our back comes back as nil (Redis 6.2) or not at all (7.0)
      if e and e[2] then out[#out + 1] = e[2][2] end
    end
  end
end
`;

// KEYS: q, idx. ARGV: task ids. Returns how many were added.
const ENQUEUE = `${ENSURE_GROUP}
local err = ensure_group(KEYS[1])
if err then return err end
local added = 0
for i = 1, #ARGV do
  local known = redis.call('HGET', KEYS[2], ARGV[i])
  -- a stale index entry (its stream entry gone, say after a partial eviction) must not hide the id
  if not known or #redis.call('XRANGE', KEYS[1], known, known) == 0 then
    local eid = redis.call('XADD', KEYS[1], '*', 't', ARGV[i])
    redis.call('HSET', KEYS[2], ARGV[i], eid)
    added = added + 1
  end
end
return added`;

// KEYS: q. ARGV: consumer, max. Returns task ids, returned ones first.
const CLAIM = `${ENSURE_GROUP}
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local err = ensure_group(KEYS[1])
if err then return err end
local max = tonumber(ARGV[2])
local out = {}
local back = redis.call('XPENDING', KEYS[1], '${GROUP}', '-', '+', max, '${RETURNED}')
if #back > 0 then
  local ids = {}
  for i, p in ipairs(back) do ids[i] = p[1] end
  claim_into(KEYS[1], ARGV[1], 0, ids, out)
end
if #out < max then
  local r = redis.call('XREADGROUP', 'GROUP', '${GROUP}', ARGV[1], 'COUNT', max - #out, 'STREAMS', KEYS[1], '>')
  if r then
    for _, e in ipairs(r[1][2]) do out[#out + 1] = e[2][2] end
  end
end
return out`;

// KEYS: q, idx. ARGV: task ids. Only pending (claimed) ids are settled; returns how many.
const SETTLE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = 0
for i = 1, #ARGV do
  local eid = redis.call('HGET', KEYS[2], ARGV[i])
  if eid then
    local acked = redis.pcall('XACK', KEYS[1], '${GROUP}', eid)
    if acked == 1 then
      redis.call('XDEL', KEYS[1], eid)
      redis.call('HDEL', KEYS[2], ARGV[i])
      n = n + 1
    end
  end
end
return n`;

// KEYS: q. ARGV: consumer. Moves the consumer's pending entries to RETURNED; returns their task ids.
const RELEASE = `${ENSURE_GROUP}
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local err = ensure_group(KEYS[1])
if err then return err end
local out = {}
local start = '-'
while true do
  local p = redis.call('XPENDING', KEYS[1], '${GROUP}', start, '+', 1000, ARGV[1])
  if #p == 0 then break end
  local ids = {}
  for i, e in ipairs(p) do ids[i] = e[1] end
  claim_into(KEYS[1], '${RETURNED}', 0, ids, out)
  start = '(' .. p[#p][1]
end
if ARGV[1] ~= '${RETURNED}' then redis.call('XGROUP', 'DELCONSUMER', KEYS[1], '${GROUP}', ARGV[1]) end
return out`;

// KEYS: any number of queues. ARGV: min idle ms. Moves entries pending that long under any consumer to
// RETURNED; returns how many, per queue. One call for every queue a sweep looks at, not one each.
const RECLAIM = `${ENSURE_GROUP}
local counts = {}
for k, key in ipairs(KEYS) do
  local out = {}
  if redis.call('EXISTS', key) == 1 then
    local err = ensure_group(key)
    if err then return err end
    local start = '-'
    while true do
      local p = redis.call('XPENDING', key, '${GROUP}', 'IDLE', ARGV[1], start, '+', 1000)
      if #p == 0 then break end
      local ids = {}
      for _, e in ipairs(p) do
        if e[2] ~= '${RETURNED}' then ids[#ids + 1] = e[1] end
      end
      if #ids > 0 then claim_into(key, '${RETURNED}', ARGV[1], ids, out) end
      start = '(' .. p[#p][1]
    end
  end
  counts[k] = #out
end
return counts`;
/** Queues per RECLAIM call: bounds how long one script holds Redis. */
const RECLAIM_CHUNK = 500;

// KEYS: q. Undelivered entries plus returned ones: everything claimable.
const DEPTH = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local len = redis.call('XLEN', KEYS[1])
local s = redis.pcall('XPENDING', KEYS[1], '${GROUP}')
if type(s) == 'table' and s.err then return len end
local returned = 0
if s[4] then
  for _, c in ipairs(s[4]) do
    if c[1] == '${RETURNED}' then returned = tonumber(c[2]) end
  end
end
return len - s[1] + returned`;

interface BrokerScripts {
  fxEnqueue(q: string, idx: string, ...taskIds: string[]): Promise<number>;
  fxClaim(q: string, consumerId: string, max: number): Promise<string[]>;
  fxSettle(q: string, idx: string, ...taskIds: string[]): Promise<number>;
  fxRelease(q: string, consumerId: string): Promise<string[]>;
  fxReclaim(numKeys: number, ...keysThenMinIdleMs: Array<string | number>): Promise<number[]>;
  fxDepth(q: string): Promise<number>;
}

type ScriptedRedis = Redis & BrokerScripts;

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
    let connectedOnce = false;
    const redis = new Redis(options.url, {
      lazyConnect: true,
      // Fail fast at start-up (the server refuses to start); after that, retry forever as ioredis does.
      retryStrategy: (times) => (connectedOnce ? Math.min(times * 50, 2000) : null),
    }) as ScriptedRedis;
    redis.once('ready', () => (connectedOnce = true));
    redis.defineCommand('fxEnqueue', { numberOfKeys: 2, lua: ENQUEUE });
    redis.defineCommand('fxClaim', { numberOfKeys: 1, lua: CLAIM });
    redis.defineCommand('fxSettle', { numberOfKeys: 2, lua: SETTLE });
    redis.defineCommand('fxRelease', { numberOfKeys: 1, lua: RELEASE });
    redis.defineCommand('fxReclaim', { lua: RECLAIM });
    redis.defineCommand('fxDepth', { numberOfKeys: 1, lua: DEPTH });
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

  async enqueue(endpointId: string, taskIds: readonly string[]): Promise<void> {
    if (taskIds.length === 0) return;
    await this.redis.fxEnqueue(this.key('q', endpointId), this.key('qi', endpointId), ...taskIds);
  }

  async claim(endpointId: string, consumerId: string, max: number): Promise<string[]> {
    const count = Math.floor(max);
    // COUNT 0 would mean "no limit" to XREADGROUP
    if (!(count > 0)) return [];
    return this.redis.fxClaim(this.key('q', endpointId), consumerId, count);
  }

  async settle(endpointId: string, taskIds: readonly string[]): Promise<void> {
    if (taskIds.length === 0) return;
    await this.redis.fxSettle(this.key('q', endpointId), this.key('qi', endpointId), ...taskIds);
  }

  release(endpointId: string, consumerId: string): Promise<string[]> {
    return this.redis.fxRelease(this.key('q', endpointId), consumerId);
  }

  async reclaimStale(endpointId: string, minIdleMs: number): Promise<number> {
    return (await this.reclaimStaleMany([endpointId], minIdleMs))[0] ?? 0;
  }

  async reclaimStaleMany(endpointIds: readonly string[], minIdleMs: number): Promise<number[]> {
    const counts: number[] = [];
    for (let i = 0; i < endpointIds.length; i += RECLAIM_CHUNK) {
      const keys = endpointIds.slice(i, i + RECLAIM_CHUNK).map((id) => this.key('q', id));
      counts.push(...(await this.redis.fxReclaim(keys.length, ...keys, Math.max(0, Math.floor(minIdleMs)))));
    }
    return counts;
  }

  depth(endpointId: string): Promise<number> {
    return this.redis.fxDepth(this.key('q', endpointId));
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
    void run.finally(() => {
      if (this.stateCheck === run) this.stateCheck = undefined;
    }).catch(() => {});
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
