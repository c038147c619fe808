import { jest } from '@jest/globals';
import { BACKENDS, rest, startTestServer, type TestServer } from '../../testing/test-server.js';

jest.setTimeout(60_000);

/** Issue 11 item 9: functions and endpoints named instead of ids, function versions, per-owner names. */
describe.each(BACKENDS)('names and versions on %s', (backend) => {
  let server: TestServer;
  let admin: ReturnType<typeof rest>;
  let alice: ReturnType<typeof rest>;
  let bob: ReturnType<typeof rest>;

  const userApi = async (name: string) => {
    const user = (await admin('POST', '/v1/users', { name })).body;
    return rest(server.url, (await admin('POST', `/v1/users/${user.id}/tokens`, {})).body.token);
  };

  beforeAll(async () => {
    server = await startTestServer(backend);
    admin = rest(server.url, server.adminToken);
    alice = await userApi('alice');
    bob = await userApi('bob');
  });
  afterAll(() => server?.stop());

  it('registering a name again: the same content returns the same function (200), other content a new version (201)', async () => {
    const v1 = await alice('POST', '/v1/functions', { name: 'add', runtime: 'js', source: '(a, b) => a + b' });
    expect([v1.status, v1.body.version]).toEqual([201, 1]);
    const again = await alice('POST', '/v1/functions', { name: 'add', runtime: 'js', source: '(a, b) => a + b' });
    expect([again.status, again.body.id, again.body.version]).toEqual([200, v1.body.id, 1]);
    const v2 = await alice('POST', '/v1/functions', { name: 'add', runtime: 'js', source: '(a, b) => b + a' });
    expect([v2.status, v2.body.version]).toEqual([201, 2]);
    expect(v2.body.id).not.toBe(v1.body.id);
    // Identity is the newest version: v1's content again is a third version, which the name then means.
    const v3 = await alice('POST', '/v1/functions', { name: 'add', runtime: 'js', source: '(a, b) => a + b' });
    expect([v3.status, v3.body.version]).toEqual([201, 3]);
    // public is a setting of the version, not part of its identity: re-registering neither adds a version nor unpublishes
    expect((await alice('PATCH', `/v1/functions/add`, { public: true })).body).toMatchObject({ id: v3.body.id, public: true });
    const same = await alice('POST', '/v1/functions', { name: 'add', runtime: 'js', source: '(a, b) => a + b' });
    expect([same.status, same.body.id, same.body.public]).toEqual([200, v3.body.id, true]);
    const walltime = await alice('POST', '/v1/functions', { name: 'add', runtime: 'js', source: '(a, b) => a + b', walltimeSeconds: 5 });
    expect([walltime.status, walltime.body.version]).toEqual([201, 4]);
    expect((await alice('DELETE', `/v1/functions/${walltime.body.id}`)).status).toBe(204);

    expect((await alice('GET', '/v1/functions/add')).body.id).toBe(v3.body.id);
    expect((await alice('GET', '/v1/functions/add@1')).body.id).toBe(v1.body.id);
    expect((await alice('GET', '/v1/functions/add@2')).body.source).toBe('(a, b) => b + a');
    expect((await alice('GET', `/v1/functions/${encodeURIComponent('alice/add@2')}`)).body.id).toBe(v2.body.id);
    const versions = (await alice('GET', '/v1/functions?name=add')).body.items;
    expect(versions.map((f: { version: number }) => f.version)).toEqual([3, 2, 1]); // 4 was deleted

    // Deleting by name deletes the newest version; the name then means the one before. Versions are never reused.
    expect((await alice('DELETE', '/v1/functions/add')).status).toBe(204);
    expect((await alice('GET', '/v1/functions/add')).body.id).toBe(v2.body.id);
    expect((await alice('GET', '/v1/functions/add@3')).status).toBe(404);
    const v5 = await alice('POST', '/v1/functions', { name: 'add', runtime: 'js', source: '(a, b) => a + b' });
    expect([v5.status, v5.body.version]).toEqual([201, 5]);
  });

  it('concurrent registrations of one name get distinct versions', async () => {
    // more writers than any fixed number of retries could absorb (CI once saw a 500 with 8 and 5 retries)
    const n = 24;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => alice('POST', '/v1/functions', { name: 'racy', runtime: 'js', source: `() => ${i}` })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(n).fill(201));
    expect(results.map((r) => r.body.version).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  });

  it('concurrent registrations of the same function make one version', async () => {
    const results = await Promise.all(Array.from({ length: 12 }, () => alice('POST', '/v1/functions', { name: 'twin', runtime: 'js', source: '() => 1' })));
    expect(results.map((r) => r.status).sort()).toEqual([...Array(11).fill(200), 201]);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect((await alice('GET', '/v1/functions?name=twin')).body.items).toHaveLength(1);
  });

  it('concurrent creations of one user name: one is created, the others are told it exists (409)', async () => {
    const results = await Promise.all(Array.from({ length: 12 }, () => admin('POST', '/v1/users', { name: 'carol' })));
    expect(results.map((r) => r.status).sort()).toEqual([201, ...Array(11).fill(409)]);
    expect(results.find((r) => r.status === 409)?.body.message).toBe('a user named "carol" already exists');
  });

  it('submits, filters and reads by names; a task keeps the exact version it was submitted with', async () => {
    const ep = (await alice('POST', '/v1/endpoints', { name: 'gpu' })).body.endpoint;
    const sq1 = (await alice('POST', '/v1/functions', { name: 'sq', runtime: 'js', source: '(x) => x * x' })).body;
    const one = await alice('POST', '/v1/tasks', { functionId: 'sq', endpointId: 'gpu', args: [3] });
    expect(one.status).toBe(201);
    const sq2 = (await alice('POST', '/v1/functions', { name: 'sq', runtime: 'js', source: '(x) => x ** 2' })).body;
    const batch = await alice('POST', '/v1/tasks/batch', {
      endpointId: 'gpu',
      tasks: [
        ...Array.from({ length: 40 }, (_, i) => ({ functionId: 'sq', args: [i] })),
        { functionId: 'sq@1', args: [1] },
        { functionId: sq1.id, endpointId: ep.id },
      ],
    });
    expect(batch.status).toBe(201);

    const first = (await alice('GET', `/v1/tasks/${one.body.taskId}`)).body;
    expect([first.functionId, first.endpointId]).toEqual([sq1.id, ep.id]);
    const ids = batch.body.taskIds as string[];
    expect((await alice('GET', `/v1/tasks/${ids[0]}`)).body.functionId).toBe(sq2.id);
    expect((await alice('GET', `/v1/tasks/${ids[40]}`)).body.functionId).toBe(sq1.id);

    expect((await alice('GET', '/v1/tasks?functionId=sq&endpointId=gpu&limit=1000')).body.items).toHaveLength(40);
    expect((await alice('GET', '/v1/tasks?functionId=sq%401&limit=1000')).body.items).toHaveLength(3);
    expect((await alice('GET', '/v1/endpoints/gpu')).body.id).toBe(ep.id);
    expect((await alice('GET', '/v1/endpoints/gpu/status')).body).toMatchObject({ id: ep.id, tasks: { waiting: 43 } });
    expect((await alice('POST', '/v1/endpoints/gpu/lock')).body).toMatchObject({ id: ep.id, lockedAt: expect.any(String) });
    const locked = await alice('POST', '/v1/tasks', { functionId: 'sq', endpointId: 'gpu' });
    expect(locked.body.code).toBe('ENDPOINT_LOCKED');
    expect((await alice('POST', '/v1/endpoints/gpu/unlock')).status).toBe(200);
  });

  it('unknown names are 404 with a sentence; malformed refs and names that look like ids are 400', async () => {
    await alice('POST', '/v1/endpoints', { name: 'cpu' });
    await alice('POST', '/v1/functions', { name: 'one', runtime: 'js', source: '() => 1' });
    for (const [path, body] of [
      ['/v1/tasks', { functionId: 'nope', endpointId: 'cpu' }],
      ['/v1/tasks', { functionId: 'one', endpointId: 'nowhere' }],
      ['/v1/tasks', { functionId: 'one@9', endpointId: 'cpu' }],
      ['/v1/tasks/batch', { endpointId: 'cpu', tasks: [{ functionId: 'one' }, { functionId: 'nope' }] }],
    ] as const) {
      const r = await alice('POST', path, body);
      expect([r.status, r.body.code]).toEqual([404, 'NOT_FOUND']);
      expect(r.body.message).toMatch(/^no (function|endpoint) "(nope|nowhere|one@9)" was found/);
    }
    expect((await alice('GET', '/v1/tasks?functionId=nope')).status).toBe(404);
    expect((await alice('GET', '/v1/functions/nope')).body.message).toMatch(/another user's public function is named "owner\/name"/);

    for (const bad of ['one@0', 'one@x', 'a/b/c', '-x', 'one@1@2']) {
      const r = await alice('POST', '/v1/tasks', { functionId: bad, endpointId: 'cpu' });
      expect([bad, r.status, r.body.code]).toEqual([bad, 400, 'VALIDATION_FAILED']);
    }
    expect((await alice('GET', '/v1/endpoints/cpu@1')).status).toBe(400);
    const uuidName = '0f8fad5b-d9cb-469f-a165-70867728950e';
    expect((await alice('POST', '/v1/functions', { name: uuidName, runtime: 'js', source: '() => 1' })).body.message).toMatch(/may not look like an id/);
    expect((await alice('POST', '/v1/endpoints', { name: uuidName })).status).toBe(400);
  });

  it("names are per owner: a bare name is the caller's own; owner/name reaches a public function; endpoint names are unique per owner", async () => {
    const secret = (await alice('POST', '/v1/functions', { name: 'shared', runtime: 'js', source: '() => "private"' })).body;
    expect((await bob('GET', '/v1/functions/shared')).status).toBe(404);
    expect((await bob('GET', '/v1/functions/alice%2Fshared')).status).toBe(404);
    const pub = (await alice('POST', '/v1/functions', { name: 'shared', runtime: 'js', source: '() => "public"', public: true })).body;
    expect((await bob('GET', '/v1/functions/alice%2Fshared')).body.id).toBe(pub.id);
    // alice's private newer version stays invisible to bob: alice/shared is still the public one for him
    await alice('POST', '/v1/functions', { name: 'shared', runtime: 'js', source: '() => "newer"' });
    expect((await bob('GET', '/v1/functions/alice%2Fshared')).body.id).toBe(pub.id);
    expect((await bob('GET', `/v1/functions/alice%2Fshared@${secret.version}`)).status).toBe(404);
    expect((await bob('GET', '/v1/functions?name=alice%2Fshared')).body.items.map((f: { id: string }) => f.id)).toEqual([pub.id]);
    expect((await bob('DELETE', '/v1/functions/alice%2Fshared')).status).toBe(404);

    const mine = (await bob('POST', '/v1/functions', { name: 'shared', runtime: 'js', source: '() => "bob"' })).body;
    expect([mine.version, (await bob('GET', '/v1/functions/shared')).body.id]).toEqual([1, mine.id]);
    const bobEp = (await bob('POST', '/v1/endpoints', { name: 'gpu' })).body.endpoint; // alice has a "gpu" too
    const run = await bob('POST', '/v1/tasks', { functionId: 'alice/shared', endpointId: 'gpu' });
    expect(run.status).toBe(201);
    expect((await bob('GET', `/v1/tasks/${run.body.taskId}`)).body).toMatchObject({ functionId: pub.id, endpointId: bobEp.id });

    const taken = await bob('POST', '/v1/endpoints', { name: 'gpu' });
    expect([taken.status, taken.body.code]).toEqual([409, 'CONFLICT']);
    expect(taken.body.message).toMatch(/already have an endpoint named "gpu"/);
    expect((await bob('GET', '/v1/endpoints/alice%2Fgpu')).status).toBe(404);
    expect((await admin('GET', '/v1/endpoints/bob%2Fgpu')).body.id).toBe(bobEp.id);
    // a deleted endpoint's name is free again
    expect((await bob('DELETE', '/v1/endpoints/gpu')).status).toBe(204);
    expect((await bob('POST', '/v1/endpoints', { name: 'gpu' })).status).toBe(201);
  });
});
