import { jest } from '@jest/globals';
import { BACKENDS, rest, startTestServer, type TestServer, userTokens } from '../../testing/test-server.js';

/**
 * The quota on empty task groups (FX_GROUP_QUOTA): groups made by POST /v1/groups that hold no task
 * yet. Requests made at once take turns under the owner's lock, so a burst past the quota makes
 * exactly the quota; a group stops counting once a task joins it, and a batch's own group never counts.
 */
jest.setTimeout(120_000);

const QUOTA = 5;

describe.each(BACKENDS)('task group quota (%s)', (backend) => {
  let server: TestServer;
  let alice: ReturnType<typeof rest>;
  let bob: ReturnType<typeof rest>;

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_RATE_LIMIT_PER_SECOND: '0', FX_GROUP_QUOTA: String(QUOTA) });
    const tokens = await userTokens(server, ['alice', 'bob']);
    alice = rest(server.url, tokens[0]);
    bob = rest(server.url, tokens[1]);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('makes exactly FX_GROUP_QUOTA empty groups of a burst made at once, per user; a group that holds a task stops counting', async () => {
    const burst = await Promise.all(Array.from({ length: QUOTA + 7 }, (_, i) => alice('POST', '/v1/groups', { kind: i % 2 ? 'map' : 'batch' })));
    expect(burst.filter((r) => r.status === 201)).toHaveLength(QUOTA);
    const refused = burst.filter((r) => r.status !== 201);
    expect(refused.map((r) => [r.status, r.body.code])).toEqual(Array.from({ length: 7 }, () => [429, 'QUOTA_EXCEEDED']));
    expect(refused[0]!.body.message).toMatch(/FX_GROUP_QUOTA/);
    // another user's quota is their own
    expect((await bob('POST', '/v1/groups', {})).status).toBe(201);

    // a batch of its own makes a group that is not counted: batches are never refused for the quota
    const fn = (await alice('POST', '/v1/functions', { name: 'f', runtime: 'js', source: '(x) => x' })).body.id;
    const ep = (await alice('POST', '/v1/endpoints', { name: 'ep' })).body.endpoint.id;
    const own = await alice('POST', '/v1/tasks/batch', { endpointId: ep, tasks: [{ functionId: fn, args: [1] }] });
    expect(own.status).toBe(201);
    expect((await alice('POST', '/v1/groups', {})).status).toBe(429);

    // a task joins one of the empty groups: it holds a task now, and one more empty group may be made
    const joined = burst.find((r) => r.status === 201)!.body.id;
    expect((await alice('POST', '/v1/tasks/batch', { endpointId: ep, groupId: joined, tasks: [{ functionId: fn, args: [2] }] })).status).toBe(201);
    const again = await Promise.all(Array.from({ length: 3 }, () => alice('POST', '/v1/groups', {})));
    expect(again.map((r) => r.status).sort()).toEqual([201, 429, 429]);
  });
});
