import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { eventually } from '@fx/testing';
import { startTestServer, rest, type TestServer } from '../../testing/test-server.js';
import { objectsClient, sha256 } from '../../testing/objects-client.js';
import { ObjectsGcService } from './objects-gc.service.js';

/**
 * The bounds of objects on a real server: the size of one object, the per-user quota over live objects
 * and open uploads (a clear QUOTA_EXCEEDED sentence naming usage and quota), and uploads left open
 * past their TTL, collected with their staging files.
 */
jest.setTimeout(120_000);

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

describe('object limits', () => {
  let server: TestServer;
  let alice: ReturnType<typeof objectsClient>;

  beforeAll(async () => {
    server = await startTestServer('postgres+redis', {
      FX_RATE_LIMIT_PER_SECOND: '0',
      FX_OBJECT_QUOTA_BYTES: '100000',
      FX_MAX_OBJECT_BYTES: '80000',
      FX_UPLOAD_TTL_SECONDS: '5',
      FX_OBJECT_GC_INTERVAL_MS: '3600000',
    });
    const admin = rest(server.url, server.adminToken);
    const u = await admin('POST', '/v1/users', { name: 'alice' });
    alice = objectsClient(server.url, (await admin('POST', `/v1/users/${u.body.id}/tokens`, { name: 'main' })).body.token);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('refuses an object larger than FX_MAX_OBJECT_BYTES before any byte is sent, and while its bytes stream', async () => {
    const declared = await alice.createUpload({ size: 80_001 });
    expect(declared.status).toBe(413);
    expect(declared.body.message).toMatch(/FX_MAX_OBJECT_BYTES/);
    const oneShot = await alice.put(randomBytes(80_001));
    expect(oneShot.status).toBe(413);
    const chunked = await alice.putChunked([randomBytes(50_000), randomBytes(40_000)]);
    expect(chunked.status).toBe(413);
    expect((await alice.list()).body.usage).toEqual({ bytes: 0, quotaBytes: 100_000 });
  });

  it('refuses what would pass the quota with a sentence naming usage and quota; open uploads count', async () => {
    const first = await alice.put(randomBytes(60_000));
    expect(first.status).toBe(201);
    const second = await alice.put(randomBytes(60_000));
    expect(second.status).toBe(429);
    expect(second.body.code).toBe('QUOTA_EXCEEDED');
    expect(second.body.message).toMatch(/use 60000 bytes .* of your quota of 100000 bytes .*FX_OBJECT_QUOTA_BYTES/);
    // a body of unknown length is stopped where it passes the quota, and nothing of it is kept
    const chunked = await alice.putChunked([randomBytes(30_000), randomBytes(30_000)]);
    expect(chunked.status).toBe(429);
    expect(chunked.body.message).toMatch(/room for 40000 bytes/);
    // an open upload holds its declared size against the quota
    const open = await alice.createUpload({ size: 30_000 });
    expect(open.status).toBe(201);
    expect((await alice.put(randomBytes(20_000))).status).toBe(429);
    expect((await alice.list()).body.usage).toEqual({ bytes: 90_000, quotaBytes: 100_000 });
    // deleting makes room
    expect((await alice.remove(first.body.id)).status).toBe(204);
    expect((await alice.put(randomBytes(20_000))).status).toBe(201);
  });

  it('discards an upload not completed within FX_UPLOAD_TTL_SECONDS, with its staging file', async () => {
    const up = (await alice.createUpload({})).body;
    expect((await alice.putPart(up.uploadId, 0, randomBytes(1000))).status).toBe(200);
    const staged = path.join(server.dataDir, 'objects', 'uploads', up.uploadId);
    expect(await exists(staged)).toBe(true);
    await eventually(async () => (await alice.upload(up.uploadId)).status === 404, 30_000, 'the upload expired');
    const counts = await server.app.get(ObjectsGcService).sweep();
    expect(counts.uploads).toBeGreaterThanOrEqual(1);
    expect(await exists(staged)).toBe(false);
    expect((await alice.putPart(up.uploadId, 1000, randomBytes(10))).status).toBe(404);
  });
});

/** A PUT whose body trickles in: `chunks` chunks, `gapMs` apart; resolves with the status and body. */
function trickle(url: string, token: string, uploadId: string, chunks: Buffer[], gapMs: number): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const u = new URL(`${url}/v1/objects/uploads/${uploadId}`);
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'upload-offset': '0' },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on('error', reject);
    void (async () => {
      for (const [i, c] of chunks.entries()) {
        if (req.destroyed) return;
        req.write(c);
        // the gap ends early when the connection goes: nothing is left waiting after the test
        if (i < chunks.length - 1)
          await new Promise<void>((r) => {
            const t = setTimeout(r, gapMs);
            req.once('close', () => {
              clearTimeout(t);
              r();
            });
          });
      }
      if (!req.destroyed) req.end();
    })();
  });
}

describe('uploads slower than FX_REQUEST_TIMEOUT_MS', () => {
  let server: TestServer;
  let token: string;
  let alice: ReturnType<typeof objectsClient>;

  beforeAll(async () => {
    server = await startTestServer('postgres+redis', { FX_RATE_LIMIT_PER_SECOND: '0', FX_HEADERS_TIMEOUT_MS: '500', FX_REQUEST_TIMEOUT_MS: '1000' });
    const admin = rest(server.url, server.adminToken);
    const u = await admin('POST', '/v1/users', { name: 'alice' });
    token = (await admin('POST', `/v1/users/${u.body.id}/tokens`, { name: 'main' })).body.token;
    alice = objectsClient(server.url, token);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('go on while bytes keep coming, however long the whole part takes', async () => {
    const chunks = Array.from({ length: 12 }, () => randomBytes(10_000));
    const up = (await alice.createUpload({})).body;
    const r = await trickle(server.url, token, up.uploadId, chunks, 250);
    expect(r.status).toBe(200);
    expect(r.body.offset).toBe(120_000);
    expect((await alice.complete(up.uploadId)).body.sha256).toBe(sha256(Buffer.concat(chunks)));
  });

  it('are cut when no byte comes for FX_REQUEST_TIMEOUT_MS, keeping what arrived', async () => {
    const up = (await alice.createUpload({})).body;
    const r = await trickle(server.url, token, up.uploadId, [randomBytes(5_000), randomBytes(5_000), randomBytes(5_000)], 2_500).catch(() => null);
    // the answer may or may not reach a client that is still sending; the server's record is what counts
    if (r) expect(r.status).toBe(400);
    await eventually(async () => (await alice.upload(up.uploadId)).body.offset === 5_000, 30_000, 'the first chunk kept');
  });
});
