import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { access, mkdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sleep } from '@fx/testing';
import { startTestServer, rest, type TestServer } from '../../testing/test-server.js';
import { ProtocolPeer } from '../../testing/protocol-peer.js';
import { objectsClient, sha256 } from '../../testing/objects-client.js';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';
import { TasksRepository } from '../tasks/tasks.repository.js';
import { ObjectsGcService } from './objects-gc.service.js';

/**
 * The object collector on a real server (PostgreSQL + Redis, and PGlite): an expired or deleted object
 * goes only once no task that can still run refers to it and no retained task has it as its result;
 * a blob goes once no object points at it; debris a crash could leave is cleaned up.
 */
jest.setTimeout(120_000);

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

describe.each([
  ['postgres+redis', {}],
  ['pglite', { FX_EMBEDDED_STORE: 'pglite' }],
] as const)('object collection (%s)', (kind, env) => {
  let server: TestServer;
  let db: Database;
  let gc: ObjectsGcService;
  let api: ReturnType<typeof rest>;
  let objects: ReturnType<typeof objectsClient>;
  let ep: { id: string; token: string };
  let fn: string;
  const blob = (sha: string) => path.join(server.dataDir, 'objects', 'blobs', sha.slice(0, 2), sha);

  beforeAll(async () => {
    server = await startTestServer(kind === 'pglite' ? 'embedded' : 'postgres+redis', {
      FX_RATE_LIMIT_PER_SECOND: '0',
      FX_OBJECT_GC_INTERVAL_MS: '3600000',
      ...env,
    });
    db = server.app.get(DATABASE);
    gc = server.app.get(ObjectsGcService);
    api = rest(server.url, server.adminToken);
    objects = objectsClient(server.url, server.adminToken);
    const e = (await api('POST', '/v1/endpoints', { name: 'gc' })).body;
    ep = { id: e.endpoint.id, token: e.token };
    fn = (await api('POST', '/v1/functions', { name: 'gc', runtime: 'js', source: '(x) => x' })).body.id;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('keeps an expired object while a task that can still run refers to it, and collects it after', async () => {
    const bytes = randomBytes(5000);
    const o = (await objects.put(bytes, { ttlSeconds: 1 })).body;
    const task = (await api('POST', '/v1/tasks', { functionId: fn, endpointId: ep.id, args: [{ $fx: 'object', id: o.id }] })).body.taskId;
    await sleep(1500);
    await gc.sweep();
    expect(await exists(blob(o.sha256))).toBe(true);
    expect((await objects.info(o.id)).status).toBe(200);
    // past its TTL it is listed no more, but the task can still run with it
    expect(JSON.stringify((await objects.list()).body.items)).not.toContain(o.id);
    expect((await api('POST', `/v1/tasks/${task}/cancel`)).body.cancelled).toBe(true);
    const counts = await gc.sweep();
    expect(counts.objects).toBeGreaterThanOrEqual(1);
    expect((await objects.info(o.id)).status).toBe(404);
    expect(await exists(blob(o.sha256))).toBe(false);
  });

  it('deletes a blob only once the last object pointing at it is collected', async () => {
    const bytes = randomBytes(3000);
    const a = (await objects.put(bytes)).body;
    const b = (await objects.put(bytes)).body;
    await objects.remove(a.id);
    await gc.sweep();
    expect(await exists(blob(sha256(bytes)))).toBe(true);
    expect((await objects.content(b.id)).bytes.equals(bytes)).toBe(true);
    await objects.remove(b.id);
    await gc.sweep();
    expect(await exists(blob(sha256(bytes)))).toBe(false);
  });

  it("keeps a retained task's result object past its expiry, and collects it with the task", async () => {
    const peer = await ProtocolPeer.connect(server.url, ep.token);
    peer.hello();
    await peer.next('welcome');
    const id = (await api('POST', '/v1/tasks', { functionId: fn, endpointId: ep.id, args: [1] })).body.taskId as string;
    peer.send('credits', { credits: 1 });
    await peer.tasks(1);
    const agent = objectsClient(server.url, ep.token);
    const up = (await agent.createUpload({ taskId: id })).body;
    await agent.putPart(up.uploadId, 0, randomBytes(100));
    const o = (await agent.complete(up.uploadId)).body;
    peer.send('results', { results: [{ taskId: id, attempt: 0, status: 'success', resultRef: o.ref, timings: {} }] });
    await peer.next('ack');
    peer.close();
    await db.prisma.$executeRawUnsafe(`UPDATE objects SET expires_at = now() - interval '1 hour' WHERE id = $1::uuid`, o.id);
    await gc.sweep();
    expect((await objects.content(o.id)).status).toBe(200);
    // the retention period ends: the task row goes, then its result
    expect(await server.app.get(TasksRepository).purgeCompletedBefore(new Date(Date.now() + 60_000))).toBeGreaterThanOrEqual(1);
    await gc.sweep();
    expect((await objects.info(o.id)).status).toBe(404);
    expect(await exists(blob(o.sha256))).toBe(false);
  });

  it('removes, in its full pass, blob files without a row and staging files without an upload, once they are old', async () => {
    const stray = sha256(randomBytes(8));
    const strayPath = blob(stray);
    await mkdir(path.dirname(strayPath), { recursive: true });
    await writeFile(strayPath, 'debris');
    const fresh = sha256(randomBytes(8));
    await mkdir(path.dirname(blob(fresh)), { recursive: true });
    await writeFile(blob(fresh), 'being committed');
    const staged = path.join(server.dataDir, 'objects', 'uploads', '11111111-2222-4333-8444-555555555555');
    await mkdir(path.dirname(staged), { recursive: true });
    await writeFile(staged, 'left over');
    const old = new Date(Date.now() - 2 * 3600_000);
    await utimes(strayPath, old, old);
    await utimes(staged, old, old);
    const counts = await gc.sweep(true);
    expect(counts.files).toBe(2);
    expect(await exists(strayPath)).toBe(false);
    expect(await exists(staged)).toBe(false);
    // a file written in the last hour may be an upload's blob whose row is about to commit
    expect(await exists(blob(fresh))).toBe(true);
  });
});
