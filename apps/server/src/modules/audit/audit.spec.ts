import { jest } from '@jest/globals';
import { eventually } from '@fx/testing';
import { MAX_AUDIT_DETAILS_BYTES, type AuditEntry } from '@fx/protocol';
import { BACKENDS, startTestServer, rest, type TestServer } from '../../testing/test-server.js';
import { ProtocolPeer } from '../../testing/protocol-peer.js';
import { objectsClient } from '../../testing/objects-client.js';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';
import { firingTaskId } from '../triggers/trigger-rules.js';
import { AuditService } from './audit.service.js';

/**
 * The audit log on a real server: actions recorded by the services that did them, each user's view
 * (their things and their acts) against an admin's (everything), filters and both cursors, the JSON
 * lines export across many pages, bounded and secret-free details, and a table that refuses edits.
 */
jest.setTimeout(180_000);

type Api = ReturnType<typeof rest>;

/** Every entry this caller may see with these filters, walking the cursor (limit 50 a page). */
async function all(api: Api, query = ''): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  let after = '';
  for (;;) {
    const r = await api('GET', `/v1/audit?limit=50${query}${after ? `&after=${after}` : ''}`);
    expect(r.status).toBe(200);
    out.push(...r.body.items);
    if (!r.body.next) return out;
    after = r.body.next;
  }
}

async function jsonl(url: string, token: string, query: string): Promise<{ type: string | null; entries: AuditEntry[] }> {
  const res = await fetch(`${url}/v1/audit?format=jsonl${query}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  const text = await res.text();
  return {
    type: res.headers.get('content-type'),
    entries: text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditEntry),
  };
}

describe.each(BACKENDS)('audit log (%s)', (backend) => {
  let server: TestServer;
  let admin: Api;
  const users: Record<'alice' | 'bob', { id: string; token: string; api: Api }> = {} as never;

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_RATE_LIMIT_PER_SECOND: '0' });
    admin = rest(server.url, server.adminToken);
    for (const name of ['alice', 'bob'] as const) {
      const u = await admin('POST', '/v1/users', { name });
      const token = (await admin('POST', `/v1/users/${u.body.id}/tokens`, { name: 'main' })).body.token as string;
      users[name] = { id: u.body.id, token, api: rest(server.url, token) };
    }
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('records who did what to whose thing, and shows each user only their own', async () => {
    const { alice, bob } = users;
    const add = (await alice.api('POST', '/v1/functions', { name: 'add', runtime: 'js', source: '(a, b) => a + b' })).body;
    const neg = (await alice.api('POST', '/v1/functions', { name: 'neg', runtime: 'js', source: '(a) => -a' })).body;
    const ep = (await alice.api('POST', '/v1/endpoints', { name: 'ep', allowedFunctions: [add.id, neg.id] })).body;
    const batch = await alice.api('POST', '/v1/tasks/batch', {
      endpointId: ep.endpoint.id,
      tasks: [
        { functionId: add.id, args: [1, 2] },
        { functionId: 'add', args: [3, 4] },
        { functionId: neg.id, args: [5] },
      ],
    });
    expect(batch.status).toBe(201);
    expect((await alice.api('POST', `/v1/tasks/${batch.body.taskIds[0]}/cancel`)).status).toBe(200);
    expect((await alice.api('POST', '/v1/endpoints/ep/lock')).status).toBe(200);
    const bobs = (await bob.api('POST', '/v1/functions', { name: 'mine', runtime: 'js', source: '() => 1' })).body;

    const everything = await all(admin);
    const find = (action: string, targetId: string) => everything.filter((e) => e.action === action && e.target.id === targetId);
    // users and tokens, made by the admin: about the user, never the token itself
    const created = find('user.created', alice.id);
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({ actor: { kind: 'user', name: 'admin' }, ownerId: alice.id, details: { name: 'alice', admin: false } });
    expect(everything.some((e) => e.action === 'token.issued' && e.ownerId === alice.id && e.details.name === 'main')).toBe(true);
    expect(JSON.stringify(everything)).not.toContain(alice.token);
    expect(JSON.stringify(everything)).not.toContain(ep.token);
    // the server's own first start: the admin and its token
    expect(everything.filter((e) => e.actor.kind === 'system').map((e) => e.action)).toEqual(['user.created', 'token.issued']);
    expect(find('function.registered', add.id)[0]).toMatchObject({
      actor: { kind: 'user', id: alice.id, name: 'alice' },
      ownerId: alice.id,
      details: { name: 'add', version: 1, contentHash: add.contentHash },
    });
    expect(find('endpoint.registered', ep.endpoint.id)[0]!.details).toMatchObject({ name: 'ep', allowedFunctions: [add.id, neg.id], allowedFunctionsCount: 2 });
    expect(everything.some((e) => e.action === 'token.issued' && e.details.kind === 'endpoint' && e.details.endpointId === ep.endpoint.id)).toBe(true);
    // one entry for the whole submission, naming each (function, version, endpoint) with its count
    const submitted = find('tasks.submitted', batch.body.batchId);
    expect(submitted).toHaveLength(1);
    expect(submitted[0]).toMatchObject({ target: { type: 'task-group' }, details: { groupId: batch.body.batchId, tasks: 3, usesCount: 2 } });
    expect(submitted[0]!.details.uses).toEqual([
      { functionId: add.id, functionName: 'add', version: 1, endpointId: ep.endpoint.id, count: 2 },
      { functionId: neg.id, functionName: 'neg', version: 1, endpointId: ep.endpoint.id, count: 1 },
    ]);
    expect(find('tasks.cancelled', batch.body.taskIds[0])[0]).toMatchObject({ target: { type: 'task' }, details: { cancelled: 1 } });
    expect(find('endpoint.locked', ep.endpoint.id)[0]).toMatchObject({ details: { changed: true } });

    // alice: her things and her acts; bob: his; neither sees the other's
    const mine = await all(alice.api);
    expect(mine.length).toBeGreaterThan(5);
    expect(mine).toEqual(everything.filter((e) => e.ownerId === alice.id || e.actor.id === alice.id));
    expect(mine.map((e) => e.target.id)).not.toContain(bobs.id);
    const his = await all(bob.api);
    expect(his).toEqual(everything.filter((e) => e.ownerId === bob.id || e.actor.id === bob.id));
    expect(his.some((e) => e.ownerId === alice.id)).toBe(false);
    // a user's filters narrow their view, never widen it
    expect(await all(bob.api, `&actorId=${alice.id}`)).toEqual([]);
    expect((await all(admin, `&actorId=${alice.id}`)).every((e) => e.actor.id === alice.id)).toBe(true);

    // filters and cursors
    const registered = await all(admin, '&action=function.registered');
    expect(registered.map((e) => e.target.id)).toEqual([add.id, neg.id, bobs.id]);
    expect(await all(admin, `&targetType=task-group&targetId=${batch.body.batchId}`)).toEqual(submitted);
    expect(await all(admin, `&since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).toEqual([]);
    expect((await all(admin, `&until=${encodeURIComponent(everything[0]!.at)}`)).length).toBeLessThan(everything.length);
    const newest = await admin('GET', '/v1/audit?order=desc&limit=2');
    expect(newest.body.items.map((e: AuditEntry) => e.id)).toEqual(
      everything
        .slice(-2)
        .reverse()
        .map((e) => e.id),
    );
    const older = await admin('GET', `/v1/audit?order=desc&limit=2&before=${newest.body.next}`);
    expect(older.body.items.map((e: AuditEntry) => e.id)).toEqual(
      everything
        .slice(-4, -2)
        .reverse()
        .map((e) => e.id),
    );
    expect((await admin('GET', '/v1/audit?limit=0')).status).toBe(400);
    expect((await admin('GET', '/v1/audit?action=nope')).status).toBe(400);
    expect((await admin('GET', '/v1/audit?token=x')).status).toBe(400);

    // nothing edits the log: no route, and the table refuses it whoever asks
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      expect((await admin(method, '/v1/audit')).status).toBe(404);
      expect((await admin(method, `/v1/audit/${everything[0]!.id}`)).status).toBe(404);
    }
    const db = server.app.get<Database>(DATABASE);
    await expect(db.prisma.$executeRawUnsafe(`UPDATE audit_log SET action = 'x' WHERE id = $1::bigint`, everything[0]!.id)).rejects.toThrow(/append-only/);
    await expect(db.prisma.$executeRawUnsafe(`DELETE FROM audit_log`)).rejects.toThrow(/append-only/);
    await expect(db.prisma.$executeRawUnsafe(`TRUNCATE audit_log`)).rejects.toThrow(/append-only/);
    expect(await all(admin)).toEqual(everything);
  });

  it('exports every matching entry as JSON lines, across many pages', async () => {
    const { alice, bob } = users;
    const n = 1_234;
    await server.app.get(AuditService).recordMany(
      'system',
      Array.from({ length: n }, (_, i) => ({
        action: 'object.created' as const,
        target: { type: 'object' as const, id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` },
        ownerId: alice.id,
        details: { i },
      })),
    );
    const asc = await jsonl(server.url, alice.token, '&action=object.created&limit=1');
    expect(asc.type).toMatch(/^application\/x-ndjson/);
    expect(asc.entries.map((e) => e.details.i)).toEqual(Array.from({ length: n }, (_, i) => i));
    const desc = await jsonl(server.url, server.adminToken, '&action=object.created&order=desc');
    expect(desc.entries.map((e) => e.id)).toEqual(asc.entries.map((e) => e.id).reverse());
    // after a cursor, and nothing of alice's for bob
    const rest100 = await jsonl(server.url, alice.token, `&action=object.created&after=${asc.entries[n - 101]!.id}`);
    expect(rest100.entries).toHaveLength(100);
    expect((await jsonl(server.url, bob.token, '&action=object.created')).entries).toEqual([]);
  });

  it('keeps details bounded and free of secrets', async () => {
    const { alice } = users;
    const svc = server.app.get(AuditService);
    await svc.record('system', {
      action: 'trigger.created',
      target: { type: 'trigger', id: 'big' },
      ownerId: alice.id,
      details: { blob: 'x'.repeat(MAX_AUDIT_DETAILS_BYTES) },
    });
    await svc.record('system', {
      action: 'trigger.created',
      target: { type: 'trigger', id: 'secret' },
      ownerId: alice.id,
      details: { token: 'abc', nested: { password: 'p', fine: 'ok' }, leaked: alice.token },
    });
    const [big] = await all(admin, '&targetId=big');
    expect(big!.details).toEqual({ truncated: true, bytes: MAX_AUDIT_DETAILS_BYTES + 11 });
    const [secret] = await all(admin, '&targetId=secret');
    expect(secret!.details).toEqual({ token: '[redacted]', nested: { password: '[redacted]', fine: 'ok' }, leaked: '[redacted]' });
  });
});

describe('audit log: endpoints and triggers as actors', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer('postgres+redis', { FX_RATE_LIMIT_PER_SECOND: '0' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("names the endpoint that stored a task's output, and the server for a trigger's firing", async () => {
    const admin = rest(server.url, server.adminToken);
    const u = await admin('POST', '/v1/users', { name: 'carol' });
    const token = (await admin('POST', `/v1/users/${u.body.id}/tokens`, { name: 'main' })).body.token as string;
    const carol = rest(server.url, token);
    const fn = (await carol('POST', '/v1/functions', { name: 'f', runtime: 'js', source: '(x) => x' })).body.id as string;
    const ep = (await carol('POST', '/v1/endpoints', { name: 'worker' })).body;
    const peer = await ProtocolPeer.connect(server.url, ep.token);
    peer.hello();
    await peer.next('welcome');
    const taskId = (await carol('POST', '/v1/tasks', { functionId: fn, endpointId: ep.endpoint.id, args: [1] })).body.taskId as string;
    peer.send('credits', { credits: 1 });
    await peer.tasks(1);
    const agent = objectsClient(server.url, ep.token);
    const up = await agent.createUpload({ taskId, encoding: 'json' });
    expect((await agent.putPart(up.body.uploadId, 0, Buffer.from('1'))).status).toBe(200);
    const obj = await agent.complete(up.body.uploadId);
    expect(obj.status).toBe(201);
    const [stored] = await all(carol, `&targetId=${obj.body.id}`);
    expect(stored).toMatchObject({
      action: 'object.created',
      actor: { kind: 'endpoint', id: ep.endpoint.id, name: 'worker' },
      ownerId: u.body.id,
      details: { taskId, size: 1 },
    });
    peer.close();

    const trigger = (await carol('POST', '/v1/triggers', { prefix: 'in/', function: fn, endpoint: ep.endpoint.id })).body;
    const put = await objectsClient(server.url, token).put(Buffer.from('x'), { name: 'in/a' });
    const fired = firingTaskId(trigger.id, put.body.id);
    await eventually(async () => (await all(carol, `&targetId=${fired}`)).length === 1, 30_000, 'the firing recorded');
    const [firing] = await all(carol, `&targetId=${fired}`);
    expect(firing).toMatchObject({
      action: 'tasks.submitted',
      actor: { kind: 'system', id: null, name: null },
      ownerId: u.body.id,
      details: { triggerId: trigger.id, objectId: put.body.id, tasks: 1, uses: [{ functionId: fn, version: 1, endpointId: ep.endpoint.id, count: 1 }] },
    });
    expect((await all(carol, '&action=trigger.created')).map((e) => e.target.id)).toEqual([trigger.id]);
  });
});
