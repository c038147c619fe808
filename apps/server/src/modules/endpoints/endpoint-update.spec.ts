import { jest } from '@jest/globals';
import { ENDPOINT_CLOSE } from '@fx/protocol';
import { BACKENDS, rest, startTestServer, type TestServer } from '../../testing/test-server.js';
import { ProtocolPeer } from '../../testing/protocol-peer.js';

jest.setTimeout(60_000);

/**
 * PATCH /v1/endpoints/:id (issue 17's "allow-lists changed"): the owner changes what an endpoint may
 * run; submit-time checks use the new list at once, the connected agent is reconnected so its welcome
 * carries it, the change is audited, and nobody else can make it.
 */
describe.each(BACKENDS)('endpoint allow-list changes (%s)', (backend) => {
  let server: TestServer;
  let admin: ReturnType<typeof rest>;
  let alice: ReturnType<typeof rest>;
  let bob: ReturnType<typeof rest>;
  let f1: string;
  let f2: string;

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_RATE_LIMIT_PER_SECOND: '0' });
    admin = rest(server.url, server.adminToken);
    const mk = async (name: string) => {
      const u = await admin('POST', '/v1/users', { name });
      return rest(server.url, (await admin('POST', `/v1/users/${u.body.id}/tokens`, { name: 't' })).body.token as string);
    };
    alice = await mk('alice');
    bob = await mk('bob');
    f1 = (await alice('POST', '/v1/functions', { name: 'one', runtime: 'js', source: '(x) => x' })).body.id;
    f2 = (await alice('POST', '/v1/functions', { name: 'two', runtime: 'js', source: '(x) => x + 1' })).body.id;
  });
  afterAll(() => server?.stop());

  it('restricts, reconnects the agent with the new list, lifts the restriction, and audits each change', async () => {
    const reg = (await alice('POST', '/v1/endpoints', { name: 'lab', allowedFunctions: [f1] })).body;
    const id = reg.endpoint.id as string;
    const peer = await ProtocolPeer.connect(server.url, reg.token);
    peer.hello();
    expect((await peer.next('welcome')).payload.allowedFunctions).toEqual([f1]);

    const widened = await alice('PATCH', `/v1/endpoints/${id}`, { allowedFunctions: [f1, f2] });
    expect(widened.status).toBe(200);
    expect(widened.body.allowedFunctions).toEqual([f1, f2]);
    // the agent is told to reconnect, and its next welcome carries the new list
    expect((await peer.waitClosed()).code).toBe(ENDPOINT_CLOSE.reconfigured);
    const again = await ProtocolPeer.connect(server.url, reg.token);
    again.hello();
    expect((await again.next('welcome')).payload.allowedFunctions).toEqual([f1, f2]);
    expect((await alice('POST', '/v1/tasks', { functionId: f2, endpointId: id, args: [1] })).status).toBe(201);

    const narrowed = await alice('PATCH', `/v1/endpoints/lab`, { allowedFunctions: [f2] });
    expect(narrowed.body.allowedFunctions).toEqual([f2]);
    const refused = await alice('POST', '/v1/tasks', { functionId: f1, endpointId: id, args: [1] });
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('FUNCTION_NOT_ALLOWED');
    expect((await again.waitClosed()).code).toBe(ENDPOINT_CLOSE.reconfigured);

    const lifted = await alice('PATCH', `/v1/endpoints/${id}`, { allowedFunctions: null });
    expect(lifted.body.allowedFunctions).toBeNull();
    expect((await alice('POST', '/v1/tasks', { functionId: f1, endpointId: id, args: [1] })).status).toBe(201);

    // a description alone is no allow-list change: not audited as one
    expect((await alice('PATCH', `/v1/endpoints/${id}`, { description: 'the lab box' })).body.description).toBe('the lab box');

    const audit = await alice('GET', `/v1/audit?action=endpoint.allowlist-changed&targetId=${id}`);
    expect(audit.body.items.map((e: { details: Record<string, unknown> }) => [e.details.before, e.details.after])).toEqual([
      [[f1], [f1, f2]],
      [[f1, f2], [f2]],
      [[f2], null],
    ]);
  });

  it('refuses another user (404, the endpoint unchanged), an empty change and a bad list', async () => {
    const id = (await alice('POST', '/v1/endpoints', { name: 'mine', allowedFunctions: [f1] })).body.endpoint.id as string;
    const other = await bob('PATCH', `/v1/endpoints/${id}`, { allowedFunctions: null });
    expect(other.status).toBe(404);
    expect((await alice('GET', `/v1/endpoints/${id}`)).body.allowedFunctions).toEqual([f1]);
    expect((await bob('GET', `/v1/audit?targetId=${id}`)).body.items).toEqual([]);

    expect((await alice('PATCH', `/v1/endpoints/${id}`, {})).status).toBe(400);
    expect((await alice('PATCH', `/v1/endpoints/${id}`, { allowedFunctions: ['not-a-uuid'] })).status).toBe(400);
    expect((await alice('PATCH', `/v1/endpoints/${id}`, { allowedFunctions: [f1], extra: 1 })).status).toBe(400);
    // an admin may change anyone's
    expect((await admin('PATCH', `/v1/endpoints/${id}`, { allowedFunctions: [f1, f2] })).body.allowedFunctions).toEqual([f1, f2]);
  });
});
