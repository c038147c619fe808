import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { eventually } from '@fx/testing';
import { startTestServer, rest, type TestServer } from '../../testing/test-server.js';
import { cutPart, objectsClient, sha256 } from '../../testing/objects-client.js';

/**
 * The object REST API on a real server (PostgreSQL + Redis, and the embedded PGlite): puts, resumable
 * uploads cut midway and resumed, deduplication, names moving between objects, ranged downloads, and
 * another user's objects answering 404 on every route.
 */
jest.setTimeout(120_000);

async function blobFiles(dataDir: string): Promise<string[]> {
  const root = path.join(dataDir, 'objects', 'blobs');
  const out: string[] = [];
  for (const d of await readdir(root).catch(() => [])) for (const f of await readdir(path.join(root, d))) out.push(f);
  return out;
}

async function user(server: TestServer, name: string): Promise<{ id: string; token: string }> {
  const admin = rest(server.url, server.adminToken);
  const u = await admin('POST', '/v1/users', { name });
  const t = await admin('POST', `/v1/users/${u.body.id}/tokens`, { name: 'main' });
  return { id: u.body.id, token: t.body.token };
}

describe.each([
  ['postgres+redis', {}],
  ['pglite', { FX_EMBEDDED_STORE: 'pglite' }],
] as const)('objects over REST (%s)', (kind, env) => {
  let server: TestServer;
  let alice: ReturnType<typeof objectsClient>;
  let bob: ReturnType<typeof objectsClient>;
  let aliceToken: string;

  beforeAll(async () => {
    server = await startTestServer(kind === 'pglite' ? 'embedded' : 'postgres+redis', { FX_RATE_LIMIT_PER_SECOND: '0', ...env });
    aliceToken = (await user(server, 'alice')).token;
    alice = objectsClient(server.url, aliceToken);
    bob = objectsClient(server.url, (await user(server, 'bob')).token);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('puts bytes in one request and reads them back, with their sha256, size and reference', async () => {
    const bytes = randomBytes(100_000);
    const put = await alice.put(bytes, { name: 'input/sample-1.bin', ttlSeconds: 3600 });
    expect(put.status).toBe(201);
    expect(put.body).toMatchObject({ name: 'input/sample-1.bin', size: bytes.length, sha256: sha256(bytes), encoding: 'bytes', taskId: null });
    expect(put.body.ref).toEqual({ $fx: 'object', id: put.body.id, sha256: sha256(bytes), size: bytes.length, encoding: 'bytes' });
    expect(Date.parse(put.body.expiresAt!)).toBeGreaterThan(Date.now() + 3_500_000);
    const got = await alice.content(put.body.id);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('application/octet-stream');
    expect(got.headers.get('etag')).toBe(`"${sha256(bytes)}"`);
    expect(got.headers.get('x-fx-sha256')).toBe(sha256(bytes));
    expect(got.bytes.equals(bytes)).toBe(true);
    expect((await alice.info(put.body.id)).body).toEqual(put.body);
    const listed = await alice.list({ prefix: 'input/' });
    expect(listed.body.items.map((o: { id: string }) => o.id)).toContain(put.body.id);
    expect(listed.body.usage.bytes).toBeGreaterThanOrEqual(bytes.length);
    // json objects come back as application/json
    const json = await alice.put(Buffer.from(JSON.stringify({ a: [1, 2] })), { encoding: 'json' });
    const back = await alice.content(json.body.id);
    expect(back.headers.get('content-type')).toMatch(/^application\/json/);
    expect(back.body).toEqual({ a: [1, 2] });
  });

  it('resumes an upload whose part was cut midway from the offset the server kept', async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const up = await alice.createUpload({ size: bytes.length, sha256: sha256(bytes), name: 'big/one.bin' });
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({ offset: 0, size: bytes.length });
    const sent = 1024 * 1024 + 5;
    await cutPart(server.url, aliceToken, up.body.uploadId, 0, bytes.subarray(0, sent), bytes.length);
    // the server keeps what reached its disk, once the cut request let go of the upload
    await eventually(async () => (await alice.upload(up.body.uploadId)).body.offset === sent, 30_000, 'the cut part recorded');
    const wrong = await alice.putPart(up.body.uploadId, 0, bytes);
    expect(wrong.status).toBe(409);
    expect(wrong.body).toMatchObject({ code: 'CONFLICT', details: { offset: sent } });
    // completing early says how far it got
    const early = await alice.complete(up.body.uploadId);
    expect(early.status).toBe(409);
    expect(early.body.details).toEqual({ offset: sent });
    const rest = await alice.putPart(up.body.uploadId, sent, bytes.subarray(sent));
    expect(rest.status).toBe(200);
    expect(rest.body.offset).toBe(bytes.length);
    const done = await alice.complete(up.body.uploadId);
    expect(done.status).toBe(201);
    expect(done.body).toMatchObject({ sha256: sha256(bytes), size: bytes.length, name: 'big/one.bin' });
    expect((await alice.content(done.body.id)).bytes.equals(bytes)).toBe(true);
    // the upload is gone once completed
    expect((await alice.upload(up.body.uploadId)).status).toBe(404);
  });

  it('refuses an upload whose bytes do not match the sha256 declared, and discards it', async () => {
    const up = await alice.createUpload({ size: 4, sha256: sha256(Buffer.from('abcd')) });
    expect((await alice.putPart(up.body.uploadId, 0, Buffer.from('abce'))).status).toBe(200);
    const done = await alice.complete(up.body.uploadId);
    expect(done.status).toBe(400);
    expect(done.body.message).toMatch(/sha256 .* not the .* declared/);
    expect((await alice.upload(up.body.uploadId)).status).toBe(404);
  });

  it('stores the same bytes once, however many objects hold them', async () => {
    const bytes = randomBytes(50_000);
    const a = await alice.put(bytes);
    const b = await alice.put(bytes, { name: 'copy.bin' });
    const c = await bob.put(bytes);
    expect(new Set([a.body.id, b.body.id, c.body.id]).size).toBe(3);
    expect(a.body.sha256).toBe(c.body.sha256);
    expect((await blobFiles(server.dataDir)).filter((f) => f === sha256(bytes))).toHaveLength(1);
    // nothing is left in the staging area
    expect(await readdir(path.join(server.dataDir, 'objects', 'uploads')).catch(() => [])).toEqual([]);
  });

  it('moves a name to the new object put under it; the old one is deleted', async () => {
    const first = await alice.put(Buffer.from('v1'), { name: 'config/settings.json' });
    const second = await alice.put(Buffer.from('v2'), { name: 'config/settings.json' });
    expect(second.body.name).toBe('config/settings.json');
    expect((await alice.info(first.body.id)).status).toBe(404);
    const named = await alice.list({ name: 'config/settings.json' });
    expect(named.body.items.map((o: { id: string }) => o.id)).toEqual([second.body.id]);
    expect((await alice.content(second.body.id)).bytes.toString()).toBe('v2');
    // the same name is another user's to use as well
    expect((await bob.put(Buffer.from('bob'), { name: 'config/settings.json' })).status).toBe(201);
    expect((await alice.content(second.body.id)).bytes.toString()).toBe('v2');
  });

  it('puts racing for one name all succeed, and the name ends on exactly one of them', async () => {
    const puts = await Promise.all(Array.from({ length: 40 }, (_, i) => alice.put(Buffer.from(`racer ${i}`), { name: 'race/latest' })));
    expect(puts.map((p) => p.status)).toEqual(Array(40).fill(201));
    const named = await alice.list({ name: 'race/latest' });
    expect(named.body.items).toHaveLength(1);
    const live = await Promise.all(puts.map(async (p) => (await alice.info(p.body.id)).status));
    expect(live.filter((s) => s === 200)).toHaveLength(1);
  });

  it('serves ranges for resuming a download, and answers 304 to the ETag it gave', async () => {
    const bytes = randomBytes(10_000);
    const o = (await alice.put(bytes)).body;
    const tail = await alice.content(o.id, { range: 'bytes=4000-' });
    expect(tail.status).toBe(206);
    expect(tail.headers.get('content-range')).toBe(`bytes 4000-9999/10000`);
    expect(tail.bytes.equals(bytes.subarray(4000))).toBe(true);
    const mid = await alice.content(o.id, { range: 'bytes=10-19' });
    expect(mid.status).toBe(206);
    expect(mid.bytes.equals(bytes.subarray(10, 20))).toBe(true);
    const past = await alice.content(o.id, { range: 'bytes=10000-' });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe('bytes */10000');
    expect((await alice.content(o.id, { 'if-none-match': `"${o.sha256}"` })).status).toBe(304);
  });

  it("answers 404 to another user's object and upload on every route, and lists none of them", async () => {
    const o = (await alice.put(Buffer.from('private'), { name: 'secret.txt' })).body;
    const up = (await alice.createUpload({ size: 3 })).body;
    for (const r of [
      await bob.info(o.id),
      await bob.content(o.id),
      await bob.content(o.id, { range: 'bytes=1-' }),
      await bob.remove(o.id),
      await bob.upload(up.uploadId),
      await bob.putPart(up.uploadId, 0, Buffer.from('abc')),
      await bob.complete(up.uploadId),
    ]) {
      expect(r.status).toBe(404);
      expect(r.body.code).toBe('NOT_FOUND');
    }
    expect(JSON.stringify((await bob.list()).body)).not.toContain(o.id);
    expect((await bob.list({ ownerId: (await alice.info(o.id)).body.ownerId })).body.items).toEqual([]);
    // still alice's, untouched
    expect((await alice.content(o.id)).bytes.toString()).toBe('private');
    expect((await alice.putPart(up.uploadId, 0, Buffer.from('abc'))).status).toBe(200);
    // admins see every object
    expect((await objectsClient(server.url, server.adminToken).info(o.id)).status).toBe(200);
  });

  it('closes the connection after refusing a part it did not read, rather than reading the rest of it', async () => {
    const up = (await alice.createUpload({ size: 10 })).body;
    const stranger = objectsClient(server.url, 'not-a-token');
    const refused = await stranger.putPart(up.uploadId, 0, randomBytes(200_000));
    expect(refused.status).toBe(401);
    expect(refused.headers.get('connection')).toBe('close');
    const past = await alice.putPart(up.uploadId, 0, randomBytes(200_000));
    expect(past.status).toBe(413);
    expect(past.headers.get('connection')).toBe('close');
    // read in full, the connection may stay
    expect((await alice.putPart(up.uploadId, 0, randomBytes(10))).headers.get('connection')).not.toBe('close');
  });

  it('deletes an object: 204, then 404 for its owner', async () => {
    const o = (await alice.put(Buffer.from('bye'))).body;
    expect((await alice.remove(o.id)).status).toBe(204);
    expect((await alice.info(o.id)).status).toBe(404);
    expect((await alice.content(o.id)).status).toBe(404);
    expect((await alice.remove(o.id)).status).toBe(404);
  });

  it('refuses bodies sent as JSON, parts without an offset, and a part past the size declared', async () => {
    const up = (await alice.createUpload({ size: 4 })).body;
    const json = await alice.call('PUT', `/v1/objects/uploads/${up.uploadId}`, {
      body: '{"a":1}',
      headers: { 'content-type': 'application/json', 'upload-offset': '0' },
    });
    expect(json.status).toBe(400);
    const noOffset = await alice.call('PUT', `/v1/objects/uploads/${up.uploadId}`, {
      body: Buffer.from('ab'),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(noOffset.status).toBe(400);
    expect(noOffset.body.message).toMatch(/Upload-Offset/);
    const tooMuch = await alice.putPart(up.uploadId, 0, Buffer.from('abcdef'));
    expect(tooMuch.status).toBe(413);
    expect(tooMuch.body.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await alice.putPart(up.uploadId, 0, Buffer.from('abcd'))).status).toBe(200);
    expect((await alice.complete(up.uploadId)).status).toBe(201);
    // taskId is for endpoint tokens
    expect((await alice.createUpload({ taskId: '00000000-0000-4000-8000-000000000000' })).status).toBe(400);
  });
});
