import { jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { MAX_ENDPOINT_GROUPS_PER_USER } from '@fx/protocol';
import { eventually } from '@fx/testing';
import { startTestServer, rest, type TestServer, userTokens } from '../../testing/test-server.js';

/**
 * Endpoint groups on a real server, with no agent: membership and consent (another user's endpoint
 * joins only when its owner accepts; nothing tells a stranger whether an endpoint exists), and tasks
 * sent to a group: stored with the group and a member, and moved off a member that leaves.
 */
jest.setTimeout(120_000);

describe.each(['postgres+redis', 'embedded'] as const)('endpoint groups (%s)', (backend) => {
  let server: TestServer;
  let alice: ReturnType<typeof rest>;
  let bob: ReturnType<typeof rest>;
  let fn: string;
  let a1: string;
  let a2: string;
  let b1: string;

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_RATE_LIMIT_PER_SECOND: '0', FX_SWEEP_INTERVAL_MS: '100' });
    const tokens = await userTokens(server, ['alice', 'bob']);
    alice = rest(server.url, tokens[0]);
    bob = rest(server.url, tokens[1]);
    fn = (await alice('POST', '/v1/functions', { name: 'inc', runtime: 'js', source: '(x) => x + 1', public: true })).body.id;
    a1 = (await alice('POST', '/v1/endpoints', { name: 'a1' })).body.endpoint.id;
    a2 = (await alice('POST', '/v1/endpoints', { name: 'a2' })).body.endpoint.id;
    b1 = (await bob('POST', '/v1/endpoints', { name: 'b1' })).body.endpoint.id;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("makes a group of the owner's endpoints, by id or name; names are unique per owner", async () => {
    const g = await alice('POST', '/v1/endpoint-groups', { name: 'pool', members: [a1, 'a2'] });
    expect(g.status).toBe(201);
    // members added by one request share their added_at (milliseconds), and the list orders those by endpoint
    // id, a random uuid: the order among them is no promise, so they are compared by name, all fields kept
    const members = g.body.members.map((m: { endpointId: string; state: string; name: string }) => [m.endpointId, m.state, m.name]);
    expect(members.sort((x: string[], y: string[]) => x[2].localeCompare(y[2]))).toEqual([
      [a1, 'active', 'a1'],
      [a2, 'active', 'a2'],
    ]);
    expect((await alice('POST', '/v1/endpoint-groups', { name: 'pool' })).status).toBe(409);
    expect((await alice('GET', '/v1/endpoint-groups/pool')).body.id).toBe(g.body.id);
    expect((await alice('GET', '/v1/endpoint-groups')).body.items.map((x: { name: string }) => x.name)).toContain('pool');
    // bob neither sees it by id nor by name, nor can he change it
    expect((await bob('GET', `/v1/endpoint-groups/${g.body.id}`)).status).toBe(404);
    expect((await bob('GET', '/v1/endpoint-groups/pool')).status).toBe(404);
    expect((await bob('POST', `/v1/endpoint-groups/${g.body.id}/members`, { endpointId: b1 })).status).toBe(404);
    expect((await bob('DELETE', `/v1/endpoint-groups/${g.body.id}`)).status).toBe(404);
    expect((await bob('GET', '/v1/endpoint-groups')).body.items).toEqual([]);
    expect((await alice('POST', '/v1/endpoint-groups', { name: randomUUID() })).status).toBe(400);
  });

  it('holds a user to MAX_ENDPOINT_GROUPS_PER_USER groups however many requests come at once', async () => {
    const dora = rest(server.url, (await userTokens(server, ['dora']))[0]);
    const burst = await Promise.all(Array.from({ length: MAX_ENDPOINT_GROUPS_PER_USER + 4 }, (_, i) => dora('POST', '/v1/endpoint-groups', { name: `g${i}` })));
    expect(burst.filter((r) => r.status === 201)).toHaveLength(MAX_ENDPOINT_GROUPS_PER_USER);
    expect(burst.filter((r) => r.status !== 201).map((r) => r.body.code)).toEqual(['QUOTA_EXCEEDED', 'QUOTA_EXCEEDED', 'QUOTA_EXCEEDED', 'QUOTA_EXCEEDED']);
  });

  it("invites another user's endpoint, answering alike whether it exists, until its owner accepts", async () => {
    const g = (await alice('POST', '/v1/endpoint-groups', { name: 'shared', members: [a1] })).body;
    const real = await alice('POST', `/v1/endpoint-groups/${g.id}/members`, { endpointId: b1 });
    const ghost = randomUUID();
    const fake = await alice('POST', `/v1/endpoint-groups/${g.id}/members`, { endpointId: ghost });
    expect([real.status, fake.status]).toEqual([201, 201]);
    const shown = (id: string) => fake.body.members.find((m: { endpointId: string }) => m.endpointId === id);
    // the two invitations look the same: no name, no online state
    expect({ ...shown(b1), endpointId: 'x', addedAt: 'x' }).toEqual({ ...shown(ghost), endpointId: 'x', addedAt: 'x' });
    expect(shown(b1)).toMatchObject({ state: 'invited', name: null, online: null });
    // tasks never go to an invited member
    const t = await alice('POST', '/v1/tasks', { functionId: fn, endpointId: 'shared', args: [1] });
    expect(t.status).toBe(201);
    expect((await alice('GET', `/v1/tasks/${t.body.taskId}`)).body).toMatchObject({ endpointId: a1, endpointGroupId: g.id });
    // bob sees the invitation of his endpoint, alice cannot accept it for him
    const inv = (await bob('GET', '/v1/endpoint-invitations')).body.items;
    expect(inv).toEqual([expect.objectContaining({ groupId: g.id, groupName: 'shared', endpointId: b1, endpointName: 'b1' })]);
    expect((await alice('GET', '/v1/endpoint-invitations')).body.items).toEqual([]);
    expect((await alice('POST', `/v1/endpoint-groups/${g.id}/members/${b1}/accept`)).status).toBe(404);
    expect((await bob('POST', `/v1/endpoint-groups/${g.id}/members/${ghost}/accept`)).status).toBe(404);
    expect((await bob('POST', `/v1/endpoint-groups/${g.id}/members/${b1}/accept`)).status).toBe(204);
    const after = (await alice('GET', `/v1/endpoint-groups/${g.id}`)).body;
    expect(after.members.find((m: { endpointId: string }) => m.endpointId === b1)).toMatchObject({ state: 'active', name: 'b1', online: false });
    // bob still sees nothing of alice's group or tasks
    expect((await bob('GET', `/v1/endpoint-groups/${g.id}`)).status).toBe(404);
    expect((await bob('GET', `/v1/tasks/${t.body.taskId}`)).status).toBe(404);
  });

  it('lets an endpoint owner decline, and leave any group; its waiting tasks move to the other members', async () => {
    const g = (await alice('POST', '/v1/endpoint-groups', { name: 'leaving', members: [b1] })).body;
    expect((await bob('POST', `/v1/endpoint-groups/${g.id}/members/${b1}/decline`)).status).toBe(204);
    expect((await alice('GET', `/v1/endpoint-groups/${g.id}`)).body.members).toEqual([]);
    // a group with no active member refuses tasks
    expect((await alice('POST', '/v1/tasks', { functionId: fn, endpointId: g.id, args: [1] })).body.code).toBe('CONFLICT');
    await alice('POST', `/v1/endpoint-groups/${g.id}/members`, { endpointId: b1 });
    await bob('POST', `/v1/endpoint-groups/${g.id}/members/${b1}/accept`);
    const batch = await alice('POST', '/v1/tasks/batch', { endpointId: g.id, tasks: Array.from({ length: 6 }, (_, i) => ({ functionId: fn, args: [i] })) });
    expect(batch.status).toBe(201);
    expect(batch.body.warnings?.[0]?.code).toBe('ENDPOINT_OFFLINE');
    const endpoints = async () =>
      new Set((await Promise.all(batch.body.taskIds.map((id: string) => alice('GET', `/v1/tasks/${id}`)))).map((r) => r.body.endpointId));
    expect(await endpoints()).toEqual(new Set([b1]));
    await alice('POST', `/v1/endpoint-groups/${g.id}/members`, { endpointId: a2 });
    // bob takes his endpoint out (he does not own the group, only the endpoint): the tasks move to a2
    expect((await bob('DELETE', `/v1/endpoint-groups/${g.id}/members/${a1}`)).status).toBe(404);
    expect((await bob('DELETE', `/v1/endpoint-groups/${g.id}/members/${b1}`)).status).toBe(204);
    await eventually(async () => (await endpoints()).size === 1 && (await endpoints()).has(a2), 10_000, 'tasks moved to a2');
    const one = (await alice('GET', `/v1/tasks/${batch.body.taskIds[0]}`)).body;
    expect(one).toMatchObject({ status: 'waiting-for-endpoint', endpointGroupId: g.id, attempt: 0 });
  });

  it("refuses a function no member allows, and removes a deleted endpoint's memberships", async () => {
    const other = (await alice('POST', '/v1/functions', { name: 'dec', runtime: 'js', source: '(x) => x - 1' })).body.id;
    const strict = (await alice('POST', '/v1/endpoints', { name: 'strict', allowedFunctions: [fn] })).body.endpoint.id;
    const g = (await alice('POST', '/v1/endpoint-groups', { name: 'strict-pool', members: [strict] })).body;
    expect((await alice('POST', '/v1/tasks', { functionId: other, endpointId: 'strict-pool' })).body.code).toBe('FUNCTION_NOT_ALLOWED');
    const sent = await alice('POST', '/v1/tasks', { functionId: fn, endpointId: 'strict-pool', args: [1] });
    expect(sent.status).toBe(201);
    expect((await alice('DELETE', `/v1/endpoints/${strict}`)).status).toBe(204);
    expect((await alice('GET', `/v1/endpoint-groups/${g.id}`)).body.members).toEqual([]);
    expect((await alice('DELETE', `/v1/endpoint-groups/${g.id}`)).status).toBe(204);
    expect((await alice('GET', `/v1/endpoint-groups/${g.id}`)).status).toBe(404);
    // the group's task had no other member to go to, and its group is gone: it fails rather than wait for ever
    await eventually(async () => (await alice('GET', `/v1/tasks/${sent.body.taskId}`)).body.status === 'failed', 10_000, 'the task failed');
    expect((await alice('GET', `/v1/tasks/${sent.body.taskId}`)).body.error.code).toBe('ENDPOINT_UNAVAILABLE');
    // an endpoint name still wins over nothing: unknown refs are the endpoint's 404
    expect((await alice('POST', '/v1/tasks', { functionId: fn, endpointId: 'strict-pool' })).status).toBe(404);
  });
});
