import { jest } from '@jest/globals';
import { BACKENDS, rest, startTestServer, type TestServer } from '../testing/test-server.js';

jest.setTimeout(120_000);

const RACERS = 12;

/**
 * The same request sent many times at once, on every mutating route where a check and a write could
 * interleave: each answer is one the route gives to a single request (a success, or 404 / 409 for the
 * racers that lost), never a 500. CI found three such races (function versions, object names, user
 * names) one at a time; this sweeps the rest.
 */
describe.each(BACKENDS)('requests racing for one thing on %s', (backend) => {
  let server: TestServer;
  let admin: ReturnType<typeof rest>;
  let alice: ReturnType<typeof rest>;
  let fnId: string;
  let epId: string;
  let aliceId: string;

  const race = async (method: string, path: string, body?: unknown) =>
    (await Promise.all(Array.from({ length: RACERS }, () => alice(method, path, body)))).map((r) => r.status).sort();
  const once = (status: number, losers: number) => [status, ...Array(RACERS - 1).fill(losers)].sort();

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_RATE_LIMIT_PER_SECOND: '0' });
    admin = rest(server.url, server.adminToken);
    const user = (await admin('POST', '/v1/users', { name: 'alice' })).body;
    aliceId = user.id;
    alice = rest(server.url, (await admin('POST', `/v1/users/${user.id}/tokens`, {})).body.token);
    fnId = (await alice('POST', '/v1/functions', { name: 'f', runtime: 'js', source: '(x) => x', cache: { ttlSeconds: 60 } })).body.id;
    epId = (await alice('POST', '/v1/endpoints', { name: 'ep' })).body.endpoint.id;
  });
  afterAll(() => server?.stop());

  it('creating one name: one 201, the others 409', async () => {
    expect(await race('POST', '/v1/endpoints', { name: 'ep-race' })).toEqual(once(201, 409));
    expect(await race('POST', '/v1/endpoint-groups', { name: 'group-race' })).toEqual(once(201, 409));
  });

  it('deleting one thing: each racer gets 204 or 404, and the thing is gone', async () => {
    // a delete is idempotent: racers that each saw the thing live may all be told 204
    const deleted = async (path: string) => {
      const statuses = await race('DELETE', path);
      expect(statuses.filter((s) => s !== 204 && s !== 404)).toEqual([]);
      expect(statuses).toContain(204);
      expect((await alice('GET', path)).status).toBe(404);
    };
    await deleted(`/v1/functions/${(await alice('POST', '/v1/functions', { name: 'doomed', runtime: 'js', source: '() => 1' })).body.id}`);
    await deleted(`/v1/endpoints/${(await alice('POST', '/v1/endpoints', { name: 'ep-doomed' })).body.endpoint.id}`);
    await deleted(`/v1/endpoint-groups/${(await alice('POST', '/v1/endpoint-groups', { name: 'group-doomed' })).body.id}`);
    const token = (await admin('POST', `/v1/users/${aliceId}/tokens`, {})).body;
    const revokes = await Promise.all(Array.from({ length: RACERS }, () => admin('DELETE', `/v1/tokens/${token.info.id}`)));
    expect(revokes.map((r) => r.status).filter((s) => s !== 204 && s !== 404)).toEqual([]);
    expect((await rest(server.url, token.token)('GET', '/v1/whoami')).status).toBe(401);
  });

  it('changing one thing to the same value: every racer gets the answer a single request gets', async () => {
    expect(await race('PATCH', `/v1/functions/${fnId}`, { public: true })).toEqual(Array(RACERS).fill(200));
    expect(await race('PATCH', `/v1/endpoints/${epId}`, { description: 'raced' })).toEqual(Array(RACERS).fill(200));
    expect(await race('POST', `/v1/endpoints/${epId}/lock`)).toEqual(Array(RACERS).fill(200));
    expect(await race('POST', `/v1/endpoints/${epId}/unlock`)).toEqual(Array(RACERS).fill(200));
    expect(await race('DELETE', `/v1/functions/${fnId}/cache`)).toEqual(Array(RACERS).fill(200));
    const group = (await alice('POST', '/v1/endpoint-groups', { name: 'group-members' })).body.id;
    const joins = await race('POST', `/v1/endpoint-groups/${group}/members`, { endpointId: epId });
    expect(joins.filter((s) => s >= 500)).toEqual([]);
    expect((await alice('GET', `/v1/endpoint-groups/${group}`)).body.members).toHaveLength(1);
  });

  it('cancelling one task or one group: no racer fails, and the task ends cancelled once', async () => {
    const task = (await alice('POST', '/v1/tasks', { functionId: fnId, endpointId: epId, args: [1] })).body.taskId;
    expect((await race('POST', `/v1/tasks/${task}/cancel`)).filter((s) => s >= 500)).toEqual([]);
    expect((await alice('GET', `/v1/tasks/${task}`)).body.status).toBe('cancelled');
    const group = (await alice('POST', '/v1/groups', {})).body.id;
    await alice('POST', '/v1/tasks/batch', { endpointId: epId, groupId: group, tasks: [{ functionId: fnId, args: [2] }] });
    expect((await race('POST', `/v1/groups/${group}/cancel`)).filter((s) => s >= 500)).toEqual([]);
  });

  it('memoized tasks submitted at once with the same arguments: every submission is accepted', async () => {
    const statuses = await race('POST', '/v1/tasks', { functionId: fnId, endpointId: epId, args: ['same'], cache: true });
    expect(statuses).toEqual(Array(RACERS).fill(201));
  });
});
