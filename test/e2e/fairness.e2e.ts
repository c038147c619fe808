import { jest } from '@jest/globals';
import { Client, type TaskInfo } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually, type Backend } from '@fx/testing';

/**
 * Fairness between users sharing an endpoint (issues 14 and 16): alice lends her one-worker endpoint to
 * bob's endpoint group (she accepts his invitation); bob queues a large batch there; alice's single
 * task, submitted after it, starts within the next few claims instead of after bob's whole backlog:
 * the server's queue, the agent's and the worker pool's are each fair between owners.
 * Start order is read from the timelines. Both stores: the Redis broker (Lua) and the in-process one.
 */
jest.setTimeout(300_000);

const FAST = { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000', FX_SWEEP_INTERVAL_MS: '500' };
const startOf = (t: TaskInfo) => Date.parse(t.timeline.runningAt ?? '');

describe.each<Backend>(['postgres+redis', 'embedded'])('fairness between users on %s', (backend) => {
  let server: ServerProcess;
  let endpoint: EndpointProcess;
  let alice: Client;
  let bob: Client;
  const logs = () => `--- server ---\n${server?.log()}\n--- agent ---\n${endpoint?.log(3000)}`;

  beforeAll(async () => {
    server = await ServerProcess.start(backend, FAST);
    const admin = new Client({ url: server.url, token: server.adminToken });
    const [a, b] = [await admin.createUser({ name: 'alice' }), await admin.createUser({ name: 'bob' })];
    alice = new Client({ url: server.url, token: (await admin.createToken(a.id)).token });
    const aliceToken = (await admin.createToken(a.id)).token;
    bob = new Client({ url: server.url, token: (await admin.createToken(b.id)).token });
    admin.close();
    // the agent's default prefetch (256): bob's backlog waits in the server's queue, in the agent's and in
    // the worker's, and each of them must let alice's task through
    endpoint = await EndpointProcess.configure(server, 'shared', { workers: 1, token: aliceToken });
    // bob's tasks run on alice's endpoint: its agent must not be root (which runs only its owner's)
    endpoint.start({ unprivileged: true });
    await eventually(async () => (await alice.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online').catch((e) => {
      throw new Error(`${(e as Error).message}\n${logs()}`);
    });
  });

  afterAll(async () => {
    alice?.close();
    bob?.close();
    await endpoint?.stop();
    await server?.stop();
  });

  it("runs another user's single task within the next claims, not after one user's backlog", async () => {
    await bob.endpointGroups.create('borrowed', [endpoint.endpointId]);
    const [invitation] = await alice.endpointGroups.invitations();
    expect(invitation).toMatchObject({ endpointId: endpoint.endpointId, groupName: 'borrowed' });
    await alice.endpointGroups.accept(invitation!.groupId, endpoint.endpointId);

    const nap = (ms: number) => new Promise((r) => setTimeout(() => r(ms), ms));
    const bobNap = await bob.registerFunction(nap, { name: 'nap' });
    const aliceNap = await alice.registerFunction(nap, { name: 'nap' });
    const backlog = await bob.runBatch(
      'borrowed',
      Array.from({ length: 400 }, () => ({ functionId: bobNap, args: [20] })),
    );
    await eventually(async () => (await bob.getTaskStatuses(backlog)).tasks.filter((t) => t.status === 'success').length >= 20, 60_000, 'backlog under way');
    const single = await alice.run(aliceNap, endpoint.endpointId, [20]);
    const submittedAt = Date.now();
    await alice.getResult(single, { timeoutMs: 120_000 }).catch((e) => Promise.reject(new Error(`${e}\n${logs()}`)));
    await bob.getResults(backlog, { timeoutMs: 120_000 });

    const singleInfo = await alice.getTask(single);
    const backlogInfos = await Promise.all(backlog.map((id) => bob.getTask(id)));
    expect(backlogInfos.every((t) => t.endpointId === endpoint.endpointId && t.status === 'success')).toBe(true);
    // bob's tasks not yet started when alice submitted hers: without fairness between owners hers would
    // start after every one of them; with it, after those the worker already holds and a claim or two
    const waiting = backlogInfos.filter((t) => startOf(t) > submittedAt);
    const startedFirst = waiting.filter((t) => startOf(t) < startOf(singleInfo)).length;
    expect(waiting.length).toBeGreaterThan(200);
    if (startedFirst > waiting.length / 5)
      throw new Error(`${startedFirst} of ${waiting.length} of bob's waiting tasks started before alice's: ${JSON.stringify(singleInfo.timeline)}`);
  });
});
