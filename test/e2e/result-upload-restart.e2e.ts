import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ObjectHttp, ObjectTransferError, type RequestOptions } from '../../apps/endpoint/src/objects/object.http.js';
import { bufferSource, uploadObject } from '../../apps/endpoint/src/objects/object.upload.js';
import { BACKENDS, rest, startTestServer, type TestServer } from '../../apps/server/src/testing/test-server.js';
import { objectsClient, sha256 } from '../../apps/server/src/testing/objects-client.js';
import { DATABASE } from '../../apps/server/src/storage/storage.module.js';
import type { Database } from '../../apps/server/src/storage/database.js';

/**
 * An agent storing a task's result while the server dies mid-request (the trigger e2e's crash, made
 * exact): the real server, and the agent's real upload code with the crash's two traces injected at the
 * moment they happen. A request cut off holds the upload's claim until it runs out, and a complete
 * whose answer is lost has committed. Neither may fail the task (OBJECT_UNAVAILABLE), and neither may
 * make a second object.
 */
jest.setTimeout(120_000);

/** The agent's HTTP client, with a hook before each request and the chance to lose an answer. */
class FaultyHttp extends ObjectHttp {
  readonly calls: string[] = [];
  before: (method: string, path: string) => Promise<void> = () => Promise.resolve();
  loseAnswer: (method: string, path: string) => boolean = () => false;

  override async request(method: string, path: string, options: RequestOptions = {}): Promise<IncomingMessage> {
    this.calls.push(`${method} ${path}`);
    await this.before(method, path);
    const res = await super.request(method, path, options);
    if (!this.loseAnswer(method, path)) return res;
    // the server did the work; its answer never arrives (it died, the connection dropped)
    res.resume();
    await new Promise((r) => res.once('end', r));
    throw new ObjectTransferError('the connection to the server failed: socket hang up (ECONNRESET)', true, undefined, undefined, undefined, true);
  }
}

describe.each(BACKENDS)('a task result stored across a server crash (%s)', (backend) => {
  let server: TestServer;
  let db: Database;
  let endpointToken: string;
  let taskId: string;
  let user: ReturnType<typeof objectsClient>;

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_RATE_LIMIT_PER_SECOND: '0' });
    db = server.app.get(DATABASE);
    const api = rest(server.url, server.adminToken);
    user = objectsClient(server.url, server.adminToken);
    const ep = (await api('POST', '/v1/endpoints', { name: 'crash-ep' })).body;
    endpointToken = ep.token;
    const fn = (await api('POST', '/v1/functions', { name: 'crash-fn', runtime: 'js', source: '(x) => x' })).body.id as string;
    taskId = (await api('POST', '/v1/tasks', { functionId: fn, endpointId: ep.endpoint.id, args: [1] })).body.taskId as string;
    expect(taskId).toEqual(expect.any(String));
    // leased to the endpoint, as a dispatched task is: only then may its token store the task's result
    await db.prisma.$executeRawUnsafe(
      `UPDATE tasks SET status = 'dispatched', lease_owner = 'crashed-connection', lease_expires_at = now() + interval '1 hour' WHERE id = $1::uuid`,
      taskId,
    );
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** A claim as a request cut off by a crash leaves it: held by nobody alive, until it runs out. */
  const strandClaim = (path: string, ms: number) =>
    db.prisma.$executeRawUnsafe(
      `UPDATE object_uploads SET writer = gen_random_uuid(), writer_until = now() + $2::int * interval '1 millisecond' WHERE id = $1::uuid`,
      path.split('/')[4]!,
      ms,
    );

  const http = () => new FaultyHttp({ url: server.url, token: endpointToken }, { retry: { attempts: 5, backoff: { initialDelayMs: 50, maxDelayMs: 400 } } });

  it('waits out the claim of a complete cut off by the crash, then completes', async () => {
    const h = http();
    let stranded = false;
    h.before = async (method, path) => {
      if (!stranded && method === 'POST' && path.endsWith('/complete')) {
        stranded = true;
        await strandClaim(path, 1_500);
      }
    };
    const bytes = randomBytes(3_000);
    const started = Date.now();
    const info = await uploadObject(h, { taskId, encoding: 'bytes', name: 'out/complete-claimed' }, bufferSource(bytes));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(info).toMatchObject({ name: 'out/complete-claimed', size: bytes.length, sha256: sha256(bytes) });
    expect(h.calls.filter((c) => c.endsWith('/complete')).length).toBeGreaterThan(1);
    expect((await user.content(info.id)).bytes.equals(bytes)).toBe(true);
  });

  it('waits out the claim of a part cut off by the crash with backoff, not a stream of requests', async () => {
    const h = http();
    let stranded = false;
    h.before = async (method, path) => {
      if (!stranded && method === 'PUT') {
        stranded = true;
        await strandClaim(path, 1_500);
      }
    };
    const bytes = randomBytes(5_000);
    const info = await uploadObject(h, { taskId, encoding: 'bytes', name: 'out/part-claimed' }, bufferSource(bytes));
    expect(info.size).toBe(bytes.length);
    // backoff of 50 ms doubling to 400 ms over 1.5 s: a handful of tries, where a loop without a pause made hundreds
    const puts = h.calls.filter((c) => c.startsWith('PUT ')).length;
    expect(puts).toBeGreaterThan(1);
    expect(puts).toBeLessThan(15);
    expect((await user.content(info.id)).bytes.equals(bytes)).toBe(true);
  });

  it('repeats a complete whose answer was lost and gets the object it made, not a second one', async () => {
    const h = http();
    let lost = false;
    h.loseAnswer = (method, path) => {
      if (lost || method !== 'POST' || !path.endsWith('/complete')) return false;
      lost = true;
      return true;
    };
    const bytes = randomBytes(4_000);
    const info = await uploadObject(h, { taskId, encoding: 'bytes', name: 'out/answer-lost' }, bufferSource(bytes));
    expect(lost).toBe(true);
    expect(info).toMatchObject({ name: 'out/answer-lost', size: bytes.length });
    const named = (await user.list({ name: 'out/answer-lost' })).body.items as Array<{ id: string }>;
    expect(named.map((o) => o.id)).toEqual([info.id]);
  });

  it('answers a repeated complete with the same object; to anything else a completed upload is gone, and no longer open', async () => {
    const bytes = randomBytes(1_000);
    const up = (await user.createUpload({ size: bytes.length, sha256: sha256(bytes) })).body;
    expect((await user.putPart(up.uploadId, 0, bytes)).status).toBe(200);
    const first = await user.complete(up.uploadId);
    expect(first.status).toBe(201);
    const again = await user.complete(up.uploadId);
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(first.body.id);
    // otherwise the upload is gone: no part, no offset
    expect((await user.putPart(up.uploadId, 0, bytes)).status).toBe(404);
    expect((await user.upload(up.uploadId)).status).toBe(404);
    const open = await db.prisma.$queryRawUnsafe<Array<{ open: number }>>(
      `SELECT count(*)::int AS open FROM object_uploads WHERE id = $1::uuid AND object_id IS NULL`,
      up.uploadId,
    );
    expect(open[0]!.open).toBe(0);
    // deleted since: a late repeat finds nothing to answer with
    expect((await user.remove(first.body.id)).status).toBe(204);
    expect((await user.complete(up.uploadId)).status).toBe(404);
  });
});
