import { randomUUID } from 'node:crypto';
import { cleanupRedisPrefix, eventually as eventuallyWithin, randomPrefix, testRedisUrl } from '@fx/testing';
import { Redis } from 'ioredis';
import type { Broker } from './broker.js';
import { createBroker } from './broker.factory.js';
import { MemoryBroker } from './broker.memory.js';
import { RedisBroker } from './broker.redis.js';
import { RANK_SPAN } from './queue-order.js';

const redisUrl = testRedisUrl();

// the brokers deliver within milliseconds: poll often, give up soon
const eventually = (check: () => boolean | Promise<boolean>, timeoutMs = 3000) => eventuallyWithin(check, timeoutMs, 'condition', { intervalMs: 10 });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ids = (n: number) => Array.from({ length: n }, () => randomUUID());

/**
 * Each implementation opens "replicas": brokers that share state as server replicas would. For Redis
 * they are separate connections on one prefix; in-process there is only one process, so one instance.
 */
interface Harness {
  replica(): Promise<Broker>;
  cleanup(): Promise<void>;
}

function redisHarness(): Harness {
  const prefix = randomPrefix();
  const opened: Broker[] = [];
  return {
    async replica() {
      const b = await RedisBroker.connect({ url: redisUrl, prefix });
      opened.push(b);
      return b;
    },
    async cleanup() {
      await Promise.all(opened.map((b) => b.close()));
      await cleanupRedisPrefix(redisUrl, prefix);
    },
  };
}

function memoryHarness(): Harness {
  const broker = new MemoryBroker();
  return { replica: async () => broker, cleanup: () => broker.close() };
}

describe.each([
  ['redis', redisHarness],
  ['memory', memoryHarness],
] as const)('%s broker', (kind, makeHarness) => {
  let harness: Harness;
  let broker: Broker;
  const ep = 'endpoint-1';

  beforeEach(async () => {
    harness = makeHarness();
    broker = await harness.replica();
  });
  afterEach(() => harness.cleanup());

  it('reports its kind and health', async () => {
    expect(broker.kind).toBe(kind);
    await expect(broker.health()).resolves.toBe(true);
  });

  it('hands ids out in enqueue order across enqueues', async () => {
    const [a, b, c, d, e] = ids(5);
    await broker.enqueue(ep, [a, b, c]);
    await broker.enqueue(ep, [d, e]);
    expect(await broker.claim(ep, 'c1', 10)).toEqual([a, b, c, d, e]);
  });

  it('keeps endpoints apart', async () => {
    const [a, b] = ids(2);
    await broker.enqueue('ep-a', [a]);
    await broker.enqueue('ep-b', [b]);
    expect(await broker.claim('ep-b', 'c1', 10)).toEqual([b]);
    expect(await broker.claim('ep-a', 'c1', 10)).toEqual([a]);
  });

  it('claims at most max ids per call', async () => {
    const all = ids(5);
    await broker.enqueue(ep, all);
    expect(await broker.claim(ep, 'c1', 0.5)).toEqual([]); // not COUNT 0, which Redis reads as "all"
    expect(await broker.claim(ep, 'c1', 2)).toEqual(all.slice(0, 2));
    expect(await broker.claim(ep, 'c1', 2)).toEqual(all.slice(2, 4));
    expect(await broker.claim(ep, 'c1', 10)).toEqual(all.slice(4));
    expect(await broker.claim(ep, 'c1', 10)).toEqual([]);
    expect(await broker.claim(ep, 'c1', 0)).toEqual([]);
    expect(await broker.claim('never-used', 'c1', 10)).toEqual([]);
  });

  it('handles a 10,000-id batch in one call', async () => {
    const all = ids(10_000);
    await broker.enqueue(ep, all);
    expect(await broker.depth(ep)).toBe(10_000);
    const claimed = await broker.claim(ep, 'c1', 10_000);
    expect(claimed).toEqual(all);
    await broker.settle(ep, claimed);
    expect(await broker.depth(ep)).toBe(0);
    expect(await broker.release(ep, 'c1')).toEqual([]);
  });

  it('skips ids that are already queued or claimed, and takes them again once settled', async () => {
    const [a, b] = ids(2);
    await broker.enqueue(ep, [a, a, b]);
    expect(await broker.depth(ep)).toBe(2);
    expect(await broker.claim(ep, 'c1', 1)).toEqual([a]);
    await broker.enqueue(ep, [a, b]);
    expect(await broker.depth(ep)).toBe(1);
    await broker.settle(ep, [a]);
    await broker.enqueue(ep, [a]);
    expect(await broker.claim(ep, 'c1', 10)).toEqual([b, a]);
  });

  it('settles claimed ids for good and leaves unclaimed ones queued', async () => {
    const [a, b, c] = ids(3);
    await broker.enqueue(ep, [a, b, c]);
    expect(await broker.claim(ep, 'c1', 2)).toEqual([a, b]);
    await broker.settle(ep, [a, c, randomUUID()]); // c is not claimed yet; the unknown id is ignored
    expect(await broker.depth(ep)).toBe(1);
    expect(await broker.release(ep, 'c1')).toEqual([b]);
    expect(await broker.claim(ep, 'c2', 10)).toEqual([b, c]);
  });

  it('settles from another replica than the one that claimed', async () => {
    const other = await harness.replica();
    const [a, b] = ids(2);
    await broker.enqueue(ep, [a, b]);
    expect(await broker.claim(ep, 'c1', 2)).toEqual([a, b]);
    await other.settle(ep, [a, b]);
    expect(await broker.release(ep, 'c1')).toEqual([]);
    expect(await broker.depth(ep)).toBe(0);
  });

  it('release returns a consumer’s pending ids to the head of the queue, in order', async () => {
    const all = ids(6);
    await broker.enqueue(ep, all);
    expect(await broker.claim(ep, 'c1', 2)).toEqual(all.slice(0, 2));
    expect(await broker.claim(ep, 'c2', 1)).toEqual(all.slice(2, 3));
    expect(await broker.claim(ep, 'c1', 1)).toEqual(all.slice(3, 4));
    expect(await broker.release(ep, 'c1')).toEqual([all[0], all[1], all[3]]);
    expect(await broker.depth(ep)).toBe(5);
    // released ids come before the never-claimed ones
    expect(await broker.claim(ep, 'c3', 2)).toEqual([all[0], all[1]]);
    expect(await broker.claim(ep, 'c3', 10)).toEqual([all[3], all[4], all[5]]);
    // c2's lease was not touched
    expect(await broker.release(ep, 'c2')).toEqual([all[2]]);
    expect(await broker.release(ep, 'nobody')).toEqual([]);
    expect(await broker.release('never-used', 'c1')).toEqual([]);
  });

  it('reclaimStale returns only entries idle at least minIdleMs, ahead of new ones', async () => {
    const [a, b, c, d] = ids(4);
    await broker.enqueue(ep, [a, b]);
    expect(await broker.claim(ep, 'c1', 2)).toEqual([a, b]);
    expect(await broker.reclaimStale(ep, 60_000)).toBe(0);
    await sleep(120);
    await broker.enqueue(ep, [c, d]);
    expect(await broker.claim(ep, 'c2', 1)).toEqual([c]); // fresh claim: not idle yet
    expect(await broker.reclaimStale(ep, 100)).toBe(2);
    expect(await broker.reclaimStale(ep, 100)).toBe(0); // already back in the queue, not counted again
    expect(await broker.depth(ep)).toBe(3);
    expect(await broker.claim(ep, 'c3', 10)).toEqual([a, b, d]);
    expect(await broker.release(ep, 'c1')).toEqual([]);
    expect(await broker.release(ep, 'c2')).toEqual([c]);
    expect(await broker.reclaimStale('never-used', 0)).toBe(0);
  });

  it('reclaimStaleMany reclaims across many endpoints in one call, counting per endpoint in order', async () => {
    const eps = Array.from({ length: 3 }, (_, i) => `${ep}-many-${i}`);
    const [a, b, c] = ids(3);
    await broker.enqueue(eps[0]!, [a]);
    await broker.enqueue(eps[2]!, [b, c]);
    expect(await broker.claim(eps[0]!, 'c1', 1)).toEqual([a]);
    expect(await broker.claim(eps[2]!, 'c1', 2)).toEqual([b, c]);
    await sleep(120);
    const many = [...eps, 'never-used', ...Array.from({ length: 600 }, (_, i) => `${ep}-idle-${i}`)];
    const counts = await broker.reclaimStaleMany(many, 100);
    expect(counts).toHaveLength(many.length);
    expect(counts.slice(0, 4)).toEqual([1, 0, 2, 0]);
    expect(counts.slice(4).every((n) => n === 0)).toBe(true);
    expect(await broker.claim(eps[2]!, 'c2', 10)).toEqual([b, c]);
    expect(await broker.reclaimStaleMany([], 0)).toEqual([]);
  });

  it('depth counts queued ids, not claimed ones', async () => {
    expect(await broker.depth('never-used')).toBe(0);
    const all = ids(3);
    await broker.enqueue(ep, all);
    expect(await broker.depth(ep)).toBe(3);
    await broker.claim(ep, 'c1', 2);
    expect(await broker.depth(ep)).toBe(1);
    await broker.release(ep, 'c1');
    expect(await broker.depth(ep)).toBe(3);
    await broker.settle(ep, await broker.claim(ep, 'c1', 10));
    expect(await broker.depth(ep)).toBe(0);
  });

  it('hands out higher priorities first, each in enqueue order, and puts released ids back by priority', async () => {
    const [l1, l2, h1, m1, h2] = ids(5);
    await broker.enqueue(ep, [
      { id: l1, priority: 1, owner: 'u' },
      { id: l2, priority: 1, owner: 'u' },
      { id: h1, priority: 9, owner: 'u' },
    ]);
    await broker.enqueue(ep, [m1, { id: h2, priority: 9, owner: 'u' }]); // a bare id: priority 5
    expect(await broker.claim(ep, 'c1', 3)).toEqual([h1, h2, m1]);
    expect(await broker.release(ep, 'c1')).toEqual([h1, h2, m1]);
    expect(await broker.claim(ep, 'c2', 10)).toEqual([h1, h2, m1, l1, l2]);
  });

  it('shares a priority fairly between owners: a big batch does not hold back a later single task', async () => {
    const big = ids(5_000);
    const [single, late] = ids(2);
    await broker.enqueue(
      ep,
      big.map((id) => ({ id, priority: 5, owner: 'alice' })),
    );
    expect(await broker.claim(ep, 'c1', 100)).toEqual(big.slice(0, 100));
    await broker.enqueue(ep, [{ id: single, priority: 5, owner: 'bob' }]);
    const next = await broker.claim(ep, 'c1', 256);
    expect(next.indexOf(single)).toBeLessThan(2);
    // both owners with work queued: one for one
    const bobs = ids(50);
    await broker.enqueue(
      ep,
      bobs.map((id) => ({ id, priority: 5, owner: 'bob' })),
    );
    const mixed = await broker.claim(ep, 'c1', 100);
    expect(mixed.filter((id) => (bobs as string[]).includes(id))).toHaveLength(50);
    // a higher priority still goes first, whoever queued more
    await broker.enqueue(ep, [{ id: late, priority: 6, owner: 'alice' }]);
    expect(await broker.claim(ep, 'c1', 1)).toEqual([late]);
  });

  it('never hands the same id to two consumers claiming at once on two replicas', async () => {
    const other = await harness.replica();
    const all = ids(300);
    await broker.enqueue(ep, all.slice(0, 150));
    const claims: Promise<string[]>[] = [];
    for (let i = 0; i < 40; i++) {
      claims.push((i % 2 ? broker : other).claim(ep, i % 2 ? 'c1' : 'c2', 7));
      if (i === 10) claims.push(other.enqueue(ep, all.slice(150)).then(() => []));
    }
    const claimed = (await Promise.all(claims)).flat();
    claimed.push(...(await broker.claim(ep, 'c1', 1000)));
    expect(new Set(claimed).size).toBe(claimed.length);
    expect(new Set(claimed)).toEqual(new Set(all));
  });

  it('fans published messages out to subscribers on every replica, asynchronously', async () => {
    const other = await harness.replica();
    const gotA: string[] = [];
    const gotB: string[] = [];
    const unsubA = await broker.subscribe('results', (m) => gotA.push(m));
    const unsubB = await other.subscribe('results', (m) => gotB.push(m));
    const published = other.publish('results', 'one');
    expect(gotA).toEqual([]); // never delivered inside the publish call
    await published;
    await broker.publish('results', 'two');
    await eventually(() => gotA.length === 2 && gotB.length === 2);
    expect(gotA).toEqual(['one', 'two']);
    expect(gotB).toEqual(['one', 'two']);

    await unsubA();
    await other.publish('results', 'three');
    await eventually(() => gotB.length === 3);
    await sleep(50);
    expect(gotA).toEqual(['one', 'two']);
    await unsubB();
  });

  it('keeps two subscriptions of one channel independent', async () => {
    const first: string[] = [];
    const second: string[] = [];
    const unsubFirst = await broker.subscribe('ch', (m) => first.push(m));
    const unsubSecond = await broker.subscribe('ch', (m) => second.push(m));
    await broker.publish('ch', 'x');
    await eventually(() => first.length === 1 && second.length === 1);
    await unsubFirst();
    await broker.publish('ch', 'y');
    await eventually(() => second.length === 2);
    expect(first).toEqual(['x']);
    await unsubSecond();
    await broker.publish('other', 'z'); // no subscriber: nothing to deliver, no error
  });

  it('survives a subscriber that throws', async () => {
    const got: string[] = [];
    await broker.subscribe('ch', () => {
      throw new Error('subscriber bug');
    });
    await broker.subscribe('ch', (m) => got.push(m));
    await broker.publish('ch', 'x');
    await eventually(() => got.length === 1);
    await expect(broker.health()).resolves.toBe(true);
  });
});

describe('redis broker specifics', () => {
  const prefix = randomPrefix();
  const opened: Broker[] = [];
  const open = async (options: { prefix?: string; stateCheckIntervalMs?: number } = {}) => {
    const b = await RedisBroker.connect({ url: redisUrl, prefix, ...options });
    opened.push(b);
    return b;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((b) => b.close()));
    await cleanupRedisPrefix(redisUrl, prefix);
  });

  it('keeps keys and channels under its prefix', async () => {
    const broker = await open();
    const strangerPrefix = randomPrefix();
    const stranger = await open({ prefix: strangerPrefix });
    try {
      await broker.enqueue('ep', ids(2));
      const admin = new Redis(redisUrl);
      try {
        const keys = await admin.keys(`${prefix}*`);
        expect(keys.sort()).toEqual([`${prefix}broker:epoch`, `${prefix}pf:ep`, `${prefix}pq:ep`]);
      } finally {
        admin.disconnect();
      }
      expect(await stranger.depth('ep')).toBe(0);
      const got: string[] = [];
      await stranger.subscribe('results', (m) => got.push(m));
      await broker.publish('results', 'private');
      await sleep(50);
      expect(got).toEqual([]);
    } finally {
      await stranger.close();
      await cleanupRedisPrefix(redisUrl, strangerPrefix);
    }
  });

  it('fires onStateLost on every replica when its keys vanish (FLUSHALL), and works again after', async () => {
    const a = await open({ stateCheckIntervalMs: 30 });
    const b = await open({ stateCheckIntervalMs: 30 });
    let firedA = 0;
    let firedB = 0;
    a.onStateLost(() => firedA++);
    b.onStateLost(() => firedB++);
    const before = ids(3);
    await a.enqueue('ep', before);
    expect(await a.claim('ep', 'c1', 1)).toEqual([before[0]]);
    await sleep(100);
    expect([firedA, firedB]).toEqual([0, 0]);

    // What FLUSHALL does to us, without flushing a Redis that other suites share.
    await cleanupRedisPrefix(redisUrl, prefix);
    await eventually(() => firedA === 1 && firedB === 1);
    await sleep(100);
    expect([firedA, firedB]).toEqual([1, 1]); // once per loss, not once per check

    // the queue and its fair-queue clock are gone: enqueue and claim start them afresh
    expect(await a.depth('ep')).toBe(0);
    const after = ids(2);
    await b.enqueue('ep', after);
    expect(await a.claim('ep', 'c1', 10)).toEqual(after);
    await a.settle('ep', after);
    expect(await b.depth('ep')).toBe(0);
  });

  it('keeps scores exact at high ranks (Lua prints numbers with 14 digits)', async () => {
    const broker = await open();
    const admin = new Redis(redisUrl);
    try {
      // a clock far along: ranks past 14 digits once the level is added
      await admin.hset(`${prefix}pf:ep`, 'n:9', '999999999999', 'n:0', '999999999999');
      const [low, high] = ids(2);
      await broker.enqueue('ep', [
        { id: low, priority: 0, owner: 'u' },
        { id: high, priority: 9, owner: 'u' },
      ]);
      expect(await admin.zscore(`${prefix}pq:ep`, low)).toBe(String(9 * RANK_SPAN + 1_000_000_000_000));
      expect(await admin.zscore(`${prefix}pq:ep`, high)).toBe(String(1_000_000_000_000));
      expect(await broker.claim('ep', 'c1', 1)).toEqual([high]);
      expect(await admin.hget(`${prefix}pf:ep`, 'n:0')).toBe('1000000000000');
      expect(await broker.release('ep', 'c1')).toEqual([high]);
      expect(await admin.zscore(`${prefix}pq:ep`, high)).toBe(String(1_000_000_000_000));
    } finally {
      admin.disconnect();
    }
  });

  it('fires onStateLost after reconnecting', async () => {
    const broker = await open();
    let fired = 0;
    broker.onStateLost(() => fired++);
    const admin = new Redis(redisUrl);
    try {
      const self = await (broker as unknown as { redis: Redis }).redis.client('ID');
      await admin.client('KILL', 'ID', String(self));
      await eventually(() => fired === 1, 5000);
      await expect(broker.health()).resolves.toBe(true);
      const [a] = ids(1);
      await broker.enqueue('ep', [a]);
      expect(await broker.claim('ep', 'c1', 1)).toEqual([a]);
    } finally {
      admin.disconnect();
    }
  });

  it('refuses to start with a sentence naming Redis when it cannot connect', async () => {
    await expect(RedisBroker.connect({ url: 'redis://127.0.0.1:1', prefix })).rejects.toThrow(/cannot connect to Redis at redis:\/\/127\.0\.0\.1:1/);
  });

  it('reports unhealthy once closed', async () => {
    const broker = await open();
    await broker.close();
    await expect(broker.health()).resolves.toBe(false);
    await broker.close(); // idempotent
  });
});

describe('createBroker', () => {
  it('builds the in-process broker without a URL, whose state is never lost', async () => {
    const broker = await createBroker({ prefix: 'fx:' });
    expect(broker.kind).toBe('memory');
    broker.onStateLost(() => {
      throw new Error('the in-process broker cannot lose state');
    });
    await broker.close();
    await expect(broker.health()).resolves.toBe(false);
  });

  it('builds the Redis broker with a URL', async () => {
    const prefix = randomPrefix();
    const broker = await createBroker({ redisUrl: redisUrl, prefix });
    try {
      expect(broker.kind).toBe('redis');
      await expect(broker.health()).resolves.toBe(true);
    } finally {
      await broker.close();
      await cleanupRedisPrefix(redisUrl, prefix);
    }
  });
});
