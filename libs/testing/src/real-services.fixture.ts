import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';

// Integration tests run against real PostgreSQL and Redis. Each test file gets a database of its own and
// each test a Redis key prefix of its own, so suites can run in parallel on one shared server.

/** Admin URL of the test PostgreSQL (`FX_TEST_DATABASE_URL`). */
export function testDatabaseUrl(): string {
  return process.env.FX_TEST_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/test';
}

/** URL of the test Redis (`FX_TEST_REDIS_URL`). */
export function testRedisUrl(): string {
  return process.env.FX_TEST_REDIS_URL || 'redis://127.0.0.1:6379';
}

function randomSuffix(): string {
  return randomBytes(6).toString('hex');
}

export interface TestDatabase {
  /** URL of the fresh, empty database. */
  url: string;
  /** The database's name (`fx_t_<random>`). */
  name: string;
  /** Drops the database, ending any connection still open to it. */
  drop(): Promise<void>;
}

async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  client.on('error', () => {}); // surfaced by the failing query instead
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a fresh PostgreSQL database `fx_t_<random>` next to the admin database. */
export async function createTestDatabase(adminUrl: string = testDatabaseUrl()): Promise<TestDatabase> {
  const name = `fx_t_${randomSuffix()}`;
  await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      // FORCE (PostgreSQL 13+) ends the connections a test left behind instead of failing.
      await withAdmin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

/** A key prefix of its own for one test: `fxt:<random>:`. */
export function randomPrefix(): string {
  return `fxt:${randomSuffix()}:`;
}

/** Deletes every key under `prefix` (SCAN + UNLINK; never FLUSHALL on a shared Redis). Returns how many. */
export async function cleanupRedisPrefix(url: string, prefix: string): Promise<number> {
  if (!prefix) throw new Error('cleanupRedisPrefix needs a non-empty prefix: it would delete every key');
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    let cursor = '0';
    let removed = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) removed += await redis.unlink(...keys);
    } while (cursor !== '0');
    return removed;
  } finally {
    await redis.quit();
  }
}
