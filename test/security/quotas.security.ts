import { jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Client, QuotaExceededError, TaskFailedError } from '@fx/sdk';
import { ServerProcess, eventually, type Backend } from '@fx/testing';

/**
 * Issue 10, low items: a user's unfinished tasks are bounded (FX_MAX_QUEUED_TASKS_PER_USER, 429
 * QUOTA_EXCEEDED before anything is inserted, per user), and tasks waiting for an endpoint that never
 * comes back fail ENDPOINT_UNAVAILABLE after FX_QUEUE_TTL_SECONDS, delivered to waiting clients like
 * any outcome; that frees the quota again.
 */
jest.setTimeout(180_000);

const QUOTA = 5;
const TTL_SECONDS = 4;

describe.each(['embedded', 'postgres+redis'] as Backend[])('queue quota and TTL (%s)', (backend) => {
  let server: ServerProcess;
  let alice: Client;
  let bob: Client;

  beforeAll(async () => {
    server = await ServerProcess.start(backend, {
      FX_LOG_LEVEL: 'error',
      FX_RATE_LIMIT_PER_SECOND: '0',
      FX_MAX_QUEUED_TASKS_PER_USER: String(QUOTA),
      FX_QUEUE_TTL_SECONDS: String(TTL_SECONDS),
      FX_SWEEP_INTERVAL_MS: '300',
      FX_MAX_ENDPOINTS_PER_USER: '3',
    });
    const admin = new Client({ url: server.url, token: server.adminToken });
    const users = await Promise.all(['alice', 'bob'].map((name) => admin.createUser({ name })));
    const tokens = await Promise.all(users.map((u) => admin.createToken(u.id)));
    alice = new Client({ url: server.url, token: tokens[0]!.token });
    bob = new Client({ url: server.url, token: tokens[1]!.token });
    admin.close();
  });

  const userClient = async (name: string): Promise<Client> => {
    const admin = new Client({ url: server.url, token: server.adminToken });
    const user = await admin.createUser({ name });
    const token = await admin.createToken(user.id);
    admin.close();
    return new Client({ url: server.url, token: token.token });
  };

  afterAll(async () => {
    alice?.close();
    bob?.close();
    await server?.stop();
  });

  it('refuses a user past the quota with 429 QUOTA_EXCEEDED, not another user; expired tasks fail ENDPOINT_UNAVAILABLE and free it', async () => {
    const fn = await alice.registerFunction((x: number) => x, { name: 'id' });
    // an endpoint no agent ever serves
    const ep = (await alice.registerEndpoint({ name: 'never-online' })).endpoint.id;
    const submittedAt = Date.now();
    const first = await alice.runBatch(ep, [
      { functionId: fn, args: [0] },
      { functionId: fn, args: [1] },
      { functionId: fn, args: [2] },
    ]);
    const more = [await alice.run(fn, ep, [3])];

    // a batch that would pass the quota is refused whole, and nothing of it is stored
    const tooMany = await alice
      .runBatch(ep, [
        { functionId: fn, args: [4] },
        { functionId: fn, args: [5] },
      ])
      .catch((e: unknown) => e);
    expect(tooMany).toBeInstanceOf(QuotaExceededError);
    expect((tooMany as QuotaExceededError).code).toBe('QUOTA_EXCEEDED');
    expect((tooMany as QuotaExceededError).status).toBe(429);
    expect((tooMany as Error).message).toMatch(/limit of 5 per user/);
    more.push(await alice.run(fn, ep, [4]));
    const sixth = await alice.run(fn, ep, [5]).catch((e: unknown) => e);
    expect(sixth).toBeInstanceOf(QuotaExceededError);

    // bob is not alice: his quota is his own
    const bobFn = await bob.registerFunction((x: number) => x, { name: 'id' });
    const bobEp = (await bob.registerEndpoint({ name: 'bob-offline' })).endpoint.id;
    await bob.run(bobFn, bobEp, [1]);

    // nobody serves the endpoint: each waiting client hears ENDPOINT_UNAVAILABLE once the TTL passed
    const ids = [...first, ...more];
    expect(ids).toHaveLength(QUOTA);
    const outcomes = await Promise.all(ids.map((id) => alice.getResult(id, { timeoutMs: 60_000 }).catch((e: unknown) => e)));
    expect(Date.now() - submittedAt).toBeGreaterThanOrEqual(TTL_SECONDS * 1000 - 500);
    for (const e of outcomes) {
      expect(e).toBeInstanceOf(TaskFailedError);
      expect((e as TaskFailedError).code).toBe('ENDPOINT_UNAVAILABLE');
      expect((e as Error).message).toMatch(/within 4 seconds/);
    }
    const info = await alice.getTask(ids[0]!);
    expect(info.status).toBe('failed');

    // the failed tasks are final: the quota is free again
    await eventually(async () => (await alice.run(fn, ep, [9]).catch(() => null)) !== null, 10_000, 'the quota freed');
  });
  it('refuses an endpoint past FX_MAX_ENDPOINTS_PER_USER with 429 QUOTA_EXCEEDED, per user, until one is deleted', async () => {
    const mine = (await alice.listEndpoints()).length;
    const made: string[] = [];
    for (let i = mine; i < 3; i++) made.push((await alice.registerEndpoint({ name: `cap-${i}` })).endpoint.id);
    const over = await alice.registerEndpoint({ name: 'cap-over' }).catch((e: unknown) => e);
    expect(over).toBeInstanceOf(QuotaExceededError);
    expect((over as QuotaExceededError).message).toMatch(/the most allowed \(FX_MAX_ENDPOINTS_PER_USER\)/);
    // another user's count is their own
    expect((await bob.registerEndpoint({ name: 'bob-cap' })).endpoint.id).toBeTruthy();
    await alice.deleteEndpoint(made[0] ?? (await alice.listEndpoints())[0]!.id);
    expect((await alice.registerEndpoint({ name: 'cap-after' })).endpoint.id).toBeTruthy();
    // registrations at once take turns: exactly as many pass as the quota has room for
    const carol = await userClient('carol');
    const burst = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => carol.registerEndpoint({ name: `burst-${i}` })));
    expect(burst.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(burst.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof QuotaExceededError)).toBe(true);
    expect(await carol.listEndpoints()).toHaveLength(3);
    carol.close();
    // an allow-list names at most 1,000 functions
    const long = Array.from({ length: 1_001 }, () => randomUUID());
    await expect(bob.registerEndpoint({ name: 'bob-long', allowedFunctions: long })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});
