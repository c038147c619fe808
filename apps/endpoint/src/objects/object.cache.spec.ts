import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ObjectRef } from '@fx/protocol';
import { FakeFxServer } from '../testing/fake-fx-server.js';
import { ObjectCache } from './object.cache.js';
import { BodyReader, downloadObject } from './object.download.js';
import { ObjectHttp } from './object.http.js';

describe('ObjectCache against the object routes', () => {
  let server: FakeFxServer;
  let http: ObjectHttp;
  let dir: string;
  const caches: ObjectCache[] = [];

  const cache = (maxBytes?: number) => {
    const c = new ObjectCache({ dir, ...(maxBytes !== undefined ? { maxBytes } : {}), fetch: (ref, part, signal) => downloadObject(http, ref, part, signal) });
    caches.push(c);
    return c;
  };

  beforeEach(async () => {
    server = new FakeFxServer();
    await server.listen();
    http = new ObjectHttp({ url: server.url, token: server.endpointToken }, { retry: { attempts: 3, backoff: { initialDelayMs: 1, maxDelayMs: 5 } } });
    dir = await mkdtemp(join(tmpdir(), 'fx-cache-'));
  });

  afterEach(async () => {
    for (const c of caches.splice(0)) c.close();
    http.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('downloads content shared by 10,000 tasks once, verified, read-only, and hands every task the same file', async () => {
    const data = randomBytes(256 * 1024);
    const ref = server.objects.put(data);
    const c = cache();
    await c.open();
    const leases = await Promise.all(Array.from({ length: 10_000 }, () => c.acquire(ref)));
    expect(server.objects.contentRequests.get(ref.id)).toBe(1);
    expect(server.objects.bytesServed).toBe(data.length);
    expect(new Set(leases.map((l) => l.path)).size).toBe(1);
    expect((await readFile(leases[0]!.path)).equals(data)).toBe(true);
    expect((await stat(leases[0]!.path)).mode & 0o777).toBe(0o444);
    for (const l of leases) l.release();
    // a later task finds it cached
    (await c.acquire(ref)).release();
    expect(server.objects.contentRequests.get(ref.id)).toBe(1);
    expect(c.stats()).toMatchObject({ entries: 1, bytes: data.length, downloads: 1 });
  });

  it('resumes a cut download with a Range request, moving each byte once', async () => {
    const data = randomBytes(300_000);
    const ref = server.objects.put(data);
    Object.assign(server.objects.faults, { cutDownloads: 1, cutAfterBytes: 100_000 });
    const c = cache();
    await c.open();
    const lease = await c.acquire(ref);
    expect((await readFile(lease.path)).equals(data)).toBe(true);
    expect(server.objects.ranges).toEqual([undefined, 'bytes=100000-']);
    expect(server.objects.bytesServed).toBe(data.length);
  });

  it('keeps every byte that arrived before a cut, however late the body is read', async () => {
    const ref = server.objects.put(randomBytes(300_000));
    Object.assign(server.objects.faults, { cutDownloads: 1, cutAfterBytes: 100_000 });
    const res = await http.request('GET', `/v1/objects/${ref.id}/content`);
    const body = new BodyReader(res);
    // the connection is cut (20 ms after the bytes were sent) before anything reads the body
    await new Promise((resolve) => res.once('close', resolve));
    let received = 0;
    const drain = async () => {
      for (let chunk = await body.next(); chunk; chunk = await body.next()) received += chunk.length;
    };
    await expect(drain()).rejects.toThrow(/aborted/);
    expect(received).toBe(100_000);
  });

  it('resumes a partial download left by an earlier run of the agent', async () => {
    const data = randomBytes(50_000);
    const ref = server.objects.put(data);
    await mkdir(join(dir, 'partial'), { recursive: true });
    await writeFile(join(dir, 'partial', `${ref.sha256}.part`), data.subarray(0, 20_000));
    const c = cache();
    await c.open();
    const lease = await c.acquire(ref);
    expect((await readFile(lease.path)).equals(data)).toBe(true);
    expect(server.objects.ranges).toEqual(['bytes=20000-']);
    expect(server.objects.bytesServed).toBe(30_000);
  });

  it('throws away content that does not match its sha256 and fetches it again', async () => {
    const data = randomBytes(10_000);
    const ref = server.objects.put(data);
    server.objects.faults.corruptDownloads = 1;
    const c = cache();
    await c.open();
    const lease = await c.acquire(ref);
    expect((await readFile(lease.path)).equals(data)).toBe(true);
    expect(server.objects.contentRequests.get(ref.id)).toBe(2);
  });

  it('gives up on content that is wrong every time, and on retryable failures past its attempts, but waits out an outage', async () => {
    const ref = server.objects.put(randomBytes(1000));
    server.objects.faults.corruptDownloads = 2;
    const c = cache();
    await c.open();
    await expect(c.acquire(ref)).rejects.toThrow(/sha256/);
    const other = server.objects.put(randomBytes(1000));
    server.objects.faults.breakDownloads = 10;
    await expect(c.acquire(other)).rejects.toThrow(/HTTP 500.*gave up after 3 attempts/);
    expect(server.objects.contentRequests.get(other.id)).toBe(3);
    // 503s (a server restarting) past the attempts do not end it: the object comes once the server is back
    server.objects.faults.breakDownloads = 0;
    const third = server.objects.put(randomBytes(1000));
    server.objects.faults.failDownloads = 6;
    (await c.acquire(third)).release();
    expect(server.objects.contentRequests.get(third.id)).toBe(7);
  });

  it('retries a server that fails for a while, and refuses at once an object the server will not give', async () => {
    const ref = server.objects.put('{"a":1}', 'json');
    server.objects.faults.failDownloads = 2;
    const c = cache();
    await c.open();
    (await c.acquire(ref)).release();
    expect(server.objects.contentRequests.get(ref.id)).toBe(3);
    const missing: ObjectRef = { ...ref, id: '00000000-0000-4000-8000-000000000000', sha256: 'a'.repeat(64) };
    await expect(c.acquire(missing)).rejects.toThrow(/not available to this endpoint/);
    expect(server.objects.contentRequests.get(missing.id)).toBe(1);
  });

  it('evicts the least recently used objects no task holds, never one in use', async () => {
    const refs = Array.from({ length: 4 }, () => server.objects.put(randomBytes(1000)));
    const [a, b, c, d] = refs as [ObjectRef, ObjectRef, ObjectRef, ObjectRef];
    const store = cache(3000);
    await store.open();
    (await store.acquire(a)).release();
    (await store.acquire(b)).release();
    const held = await store.acquire(c);
    await new Promise((r) => setTimeout(r, 5));
    (await store.acquire(a)).release(); // a is now more recent than b
    (await store.acquire(d)).release(); // room for d: b goes (c is held, a was used since)
    expect(store.stats()).toMatchObject({ entries: 3, bytes: 3000, evictions: 1 });
    const requests = () => refs.map((r) => server.objects.contentRequests.get(r.id));
    expect(requests()).toEqual([1, 1, 1, 1]);
    (await store.acquire(a)).release();
    (await store.acquire(c)).release();
    expect(requests()).toEqual([1, 1, 1, 1]);
    (await store.acquire(b)).release(); // fetched again; d or a goes, never c while held
    expect(requests()).toEqual([1, 2, 1, 1]);
    await expect(stat(held.path)).resolves.toBeDefined();
    held.release();
  });

  it("keeps each task owner's copy apart, so one user's task cannot time another's use of the same content", async () => {
    const data = randomBytes(20_000);
    const ref = server.objects.put(data);
    const c = cache();
    await c.open();
    const alice = '11111111-1111-4111-8111-111111111111';
    const bob = '22222222-2222-4222-8222-222222222222';
    const [a1, a2] = await Promise.all([c.acquire(ref, undefined, alice), c.acquire(ref, undefined, alice)]);
    expect(server.objects.contentRequests.get(ref.id)).toBe(1);
    expect(a2.path).toBe(a1.path);
    // Bob's task meets no entry of Alice's, not even her download under way: it fetches its own
    const b = await c.acquire(ref, undefined, bob);
    expect(server.objects.contentRequests.get(ref.id)).toBe(2);
    expect(b.path).not.toBe(a1.path);
    expect(b.sha256).toBe(ref.sha256);
    expect((await readFile(b.path)).equals(data)).toBe(true);
    (await c.acquire(ref, undefined, bob)).release();
    expect(server.objects.contentRequests.get(ref.id)).toBe(2);
    for (const l of [a1, a2, b]) l.release();
    expect(c.stats()).toMatchObject({ entries: 2, bytes: 2 * data.length, downloads: 2, hits: 1 });
    // both partitions survive a restart under names that are not the content's own hash
    c.close();
    const again = cache();
    await again.open();
    expect(again.stats()).toMatchObject({ entries: 2 });
    (await again.acquire(ref, undefined, bob)).release();
    (await again.acquire(ref, undefined, alice)).release();
    expect(server.objects.contentRequests.get(ref.id)).toBe(2);
  });

  it('indexes what it holds across a restart', async () => {
    const ref = server.objects.put(randomBytes(5000));
    const first = cache();
    await first.open();
    (await first.acquire(ref)).release();
    first.close();
    const second = cache();
    await second.open();
    expect(second.stats()).toMatchObject({ entries: 1, bytes: 5000 });
    (await second.acquire(ref)).release();
    expect(server.objects.contentRequests.get(ref.id)).toBe(1);
  });
});
