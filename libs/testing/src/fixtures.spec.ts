import { existsSync } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { FX_ROOT, SERVER_MAIN, cleanupRedisPrefix, createTestDatabase, eventually, randomPrefix, tempDir, testDatabaseUrl, testRedisUrl } from './index.js';

async function databaseExists(name: string): Promise<boolean> {
  const admin = new pg.Client({ connectionString: testDatabaseUrl() });
  await admin.connect();
  try {
    const { rows } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return rows.length === 1;
  } finally {
    await admin.end();
  }
}

describe('createTestDatabase', () => {
  it('creates a fresh, usable database and drops it even with a connection still open', async () => {
    const db = await createTestDatabase();
    expect(db.name).toMatch(/^fx_t_[0-9a-f]{12}$/);
    expect(new URL(db.url).pathname).toBe(`/${db.name}`);
    expect(await databaseExists(db.name)).toBe(true);

    const client = new pg.Client({ connectionString: db.url });
    client.on('error', () => {}); // the forced drop terminates it
    await client.connect();
    const { rows } = await client.query<{ db: string; n: number }>(
      `SELECT current_database() AS db, count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'`,
    );
    expect(rows).toEqual([{ db: db.name, n: 0 }]);

    await db.drop();
    expect(await databaseExists(db.name)).toBe(false);
    await client.end().catch(() => {});
    await db.drop(); // idempotent
  });

  it('gives every call its own database', async () => {
    const [a, b] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    try {
      expect(a.name).not.toBe(b.name);
    } finally {
      await Promise.all([a.drop(), b.drop()]);
    }
  });
});

describe('cleanupRedisPrefix', () => {
  it('removes every key under the prefix and nothing else', async () => {
    const prefix = randomPrefix();
    const neighbour = randomPrefix();
    expect(prefix).toMatch(/^fxt:[0-9a-f]{12}:$/);
    const redis = new Redis(testRedisUrl());
    try {
      const pipeline = redis.pipeline();
      for (let i = 0; i < 2500; i++) pipeline.set(`${prefix}k${i}`, '1'); // more than one SCAN page
      pipeline.xadd(`${prefix}q:ep`, '*', 't', 'x');
      pipeline.set(`${neighbour}keep`, '1');
      pipeline.set(`${prefix.slice(0, -1)}`, '1'); // the prefix without its colon is another key
      await pipeline.exec();

      await expect(cleanupRedisPrefix(testRedisUrl(), prefix)).resolves.toBe(2501);
      expect(await redis.keys(`${prefix}*`)).toEqual([]);
      expect(await redis.get(`${neighbour}keep`)).toBe('1');
      expect(await redis.get(prefix.slice(0, -1))).toBe('1');
    } finally {
      await redis.del(`${neighbour}keep`, prefix.slice(0, -1));
      await redis.quit();
    }
  });

  it('treats glob characters in the prefix literally', async () => {
    const base = randomPrefix();
    const redis = new Redis(testRedisUrl());
    try {
      await redis.set(`${base}a*:x`, '1');
      await redis.set(`${base}ab:x`, '1');
      await expect(cleanupRedisPrefix(testRedisUrl(), `${base}a*:`)).resolves.toBe(1);
      expect(await redis.get(`${base}ab:x`)).toBe('1');
    } finally {
      await cleanupRedisPrefix(testRedisUrl(), base);
      await redis.quit();
    }
  });

  it('refuses an empty prefix', async () => {
    await expect(cleanupRedisPrefix(testRedisUrl(), '')).rejects.toThrow(/non-empty prefix/);
  });
});

describe('tempDir', () => {
  it('creates a directory and removes it with its contents', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir.path, 'f'), 'x');
    expect((await stat(dir.path)).isDirectory()).toBe(true);
    await dir.remove();
    await expect(stat(dir.path)).rejects.toThrow(/ENOENT/);
  });
});

describe('eventually', () => {
  it('returns the first truthy value, sync or async', async () => {
    let n = 0;
    await expect(eventually(() => (++n >= 3 ? { n } : undefined), 5_000, 'three polls', { intervalMs: 5 })).resolves.toEqual({ n: 3 });
    await expect(eventually(async () => 'ready', 100)).resolves.toBe('ready');
  });

  it('names what it waited for when the time is up', async () => {
    await expect(eventually(() => false, 50, 'the moon', { intervalMs: 10 })).rejects.toThrow('the moon not met within 50 ms');
  });

  it('stops at the first error the condition throws', async () => {
    let calls = 0;
    const failing = () => {
      calls++;
      throw new Error('broken');
    };
    await expect(eventually(failing, 5_000)).rejects.toThrow('broken');
    expect(calls).toBe(1);
  });
});

describe('FX paths', () => {
  it('finds the repository from the library itself', () => {
    expect(existsSync(`${FX_ROOT}/libs/testing/package.json`)).toBe(true);
    expect(SERVER_MAIN).toBe(`${FX_ROOT}/apps/server/dist/main.js`);
  });
});
