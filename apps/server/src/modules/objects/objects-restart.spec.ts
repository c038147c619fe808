import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { cleanupRedisPrefix, createTestDatabase, randomPrefix, tempDir, testRedisUrl } from '@fx/testing';
import { loadConfig } from '../../config/env.js';
import { startServer, type RunningServer } from '../../server.js';
import { objectsClient, sha256 } from '../../testing/objects-client.js';

/**
 * A server restart loses nothing of objects: every bit of their state is in PostgreSQL and the store's
 * files. A server is stopped and started again on the same database and data directory; its objects
 * read back, and an upload left halfway resumes where it stopped.
 */
jest.setTimeout(120_000);

describe.each(['postgres+redis', 'pglite'] as const)('objects across a restart (%s)', (kind) => {
  it('keeps objects and a half-done upload, which then resumes and completes', async () => {
    const dir = await tempDir('fx-objects-restart');
    const db = kind === 'postgres+redis' ? await createTestDatabase() : undefined;
    const prefix = randomPrefix();
    const config = loadConfig({
      PORT: '0',
      FX_DATA_DIR: dir.path,
      FX_LOG_LEVEL: 'warn',
      FX_REDIS_PREFIX: prefix,
      FX_RATE_LIMIT_PER_SECOND: '0',
      ...(db ? { DATABASE_URL: db.url, REDIS_URL: testRedisUrl(), DATABASE_POOL_SIZE: '4' } : { FX_EMBEDDED_STORE: 'pglite' }),
    });
    let server: RunningServer | undefined;
    try {
      server = await startServer(config);
      const token = server.adminToken!;
      let client = objectsClient(server.url, token);
      const kept = randomBytes(200_000);
      const o = (await client.put(kept, { name: 'kept/one.bin' })).body;
      const whole = randomBytes(500_000);
      const up = (await client.createUpload({ size: whole.length, sha256: sha256(whole) })).body;
      expect((await client.putPart(up.uploadId, 0, whole.subarray(0, 300_000))).body.offset).toBe(300_000);
      await server.close();
      server = undefined;

      server = await startServer(config);
      client = objectsClient(server.url, token);
      const back = await client.content(o.id);
      expect(back.status).toBe(200);
      expect(back.bytes.equals(kept)).toBe(true);
      expect((await client.list({ name: 'kept/one.bin' })).body.items.map((x: { id: string }) => x.id)).toEqual([o.id]);
      expect((await client.upload(up.uploadId)).body).toMatchObject({ offset: 300_000, size: whole.length });
      expect((await client.putPart(up.uploadId, 300_000, whole.subarray(300_000))).body.offset).toBe(whole.length);
      const done = await client.complete(up.uploadId);
      expect(done.status).toBe(201);
      expect((await client.content(done.body.id)).bytes.equals(whole)).toBe(true);
    } finally {
      await server?.close();
      await db?.drop();
      if (db) await cleanupRedisPrefix(testRedisUrl(), prefix);
      await dir.remove();
    }
  });
});
