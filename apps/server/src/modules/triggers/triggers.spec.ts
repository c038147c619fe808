import { jest } from '@jest/globals';
import { eventually } from '@fx/testing';
import { startTestServer, rest, type TestServer, userTokens } from '../../testing/test-server.js';
import { objectsClient } from '../../testing/objects-client.js';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';
import { firingTaskId } from './trigger-rules.js';
import { TriggersRepository } from './triggers.repository.js';
import { TriggersService } from './triggers.service.js';

/**
 * Triggers on a real server, with no agent: a firing is a durable task waiting for its endpoint, so
 * what a trigger did is read from the tasks it made. Puts in parallel, the hook and the sweep racing
 * for the same objects, still make exactly one task per object.
 */
jest.setTimeout(120_000);

describe.each(['postgres+redis', 'embedded'] as const)('triggers (%s)', (backend) => {
  let server: TestServer;
  let alice: ReturnType<typeof rest>;
  let aliceObjects: ReturnType<typeof objectsClient>;
  let bob: ReturnType<typeof rest>;
  let bobObjects: ReturnType<typeof objectsClient>;
  let fn: string;
  let ep: string;

  beforeAll(async () => {
    // a fast sweep, so that it races the put's own hook
    server = await startTestServer(backend, { FX_RATE_LIMIT_PER_SECOND: '0', FX_SWEEP_INTERVAL_MS: '50' });
    const tokens = await userTokens(server, ['alice', 'bob']);
    alice = rest(server.url, tokens[0]);
    bob = rest(server.url, tokens[1]);
    aliceObjects = objectsClient(server.url, tokens[0]!);
    bobObjects = objectsClient(server.url, tokens[1]!);
    fn = (await alice('POST', '/v1/functions', { name: 'size', runtime: 'js', source: '(b) => b.length' })).body.id;
    ep = (await alice('POST', '/v1/endpoints', { name: 'ep' })).body.endpoint.id;
  });
  afterAll(async () => {
    await server?.stop();
  });

  const tasksOf = async (functionId: string) => (await alice('GET', `/v1/tasks?functionId=${functionId}&limit=1000`)).body.items as Array<{ id: string }>;

  it('makes one waiting task per object put under the prefix, with the object as its argument', async () => {
    const t = await alice('POST', '/v1/triggers', { prefix: 'input/', function: fn, endpoint: ep, outputPrefix: 'output/' });
    expect(t.status).toBe(201);
    const puts = await Promise.all(Array.from({ length: 30 }, (_, i) => aliceObjects.put(Buffer.from(`s${i}`), { name: `input/s-${i}` })));
    expect(puts.every((p) => p.status === 201)).toBe(true);
    await aliceObjects.put(Buffer.from('x'), { name: 'other/s-0' });
    await eventually(async () => (await alice('GET', `/v1/triggers/${t.body.id}`)).body.fired === 30, 30_000, '30 firings');
    // the sweep has had many turns by now: still one task per object
    await new Promise((r) => setTimeout(r, 500));
    const tasks = await tasksOf(fn);
    expect(tasks).toHaveLength(30);
    expect(new Set(tasks.map((x) => x.id))).toEqual(new Set(puts.map((p) => firingTaskId(t.body.id, p.body.id))));
    const one = (await alice('GET', `/v1/tasks/${firingTaskId(t.body.id, puts[7]!.body.id)}`)).body;
    expect(one.status).toBe('waiting-for-endpoint');
    expect(one.args).toEqual([puts[7]!.body.ref]);
    expect((await alice('GET', `/v1/triggers/${t.body.id}`)).body.fired).toBe(30);
    expect((await alice('GET', '/v1/triggers')).body.items.map((x: { id: string }) => x.id)).toEqual([t.body.id]);
    // a name put again is a new object: it fires again
    const again = await aliceObjects.put(Buffer.from('s7 again'), { name: 'input/s-7' });
    await eventually(async () => (await tasksOf(fn)).length === 31, 30_000, 'the new object fired');
    expect((await tasksOf(fn)).map((x) => x.id)).toContain(firingTaskId(t.body.id, again.body.id));

    // another user: nothing to see, nothing to delete; their own puts fire nothing of alice's
    expect((await bob('GET', `/v1/triggers/${t.body.id}`)).status).toBe(404);
    expect((await bob('DELETE', `/v1/triggers/${t.body.id}`)).status).toBe(404);
    expect((await bob('GET', '/v1/triggers')).body.items).toEqual([]);
    await bobObjects.put(Buffer.from('b'), { name: 'input/b' });
    expect(await tasksOf(fn)).toHaveLength(31);

    expect((await alice('DELETE', `/v1/triggers/${t.body.id}`)).status).toBe(204);
    await aliceObjects.put(Buffer.from('late'), { name: 'input/late' });
    await new Promise((r) => setTimeout(r, 500));
    expect(await tasksOf(fn)).toHaveLength(31);
  });

  it('refuses loops, foreign functions and endpoints, and malformed prefixes', async () => {
    const loop = await alice('POST', '/v1/triggers', { prefix: 'data/', function: fn, endpoint: ep, outputPrefix: 'data/out/' });
    expect(loop.status).toBe(400);
    expect(loop.body.message).toMatch(/would fire it again without end/);
    await alice('POST', '/v1/triggers', { prefix: 'a/', function: fn, endpoint: ep, outputPrefix: 'b/' });
    const cycle = await alice('POST', '/v1/triggers', { prefix: 'b/', function: fn, endpoint: ep, outputPrefix: 'a/' });
    expect(cycle.status).toBe(400);
    expect(cycle.body.message).toMatch(/through your other triggers/);
    expect((await bob('POST', '/v1/triggers', { prefix: 'in/', function: fn, endpoint: ep })).status).toBe(404);
    expect((await alice('POST', '/v1/triggers', { prefix: 'in put/', function: fn, endpoint: ep })).status).toBe(400);
  });

  it('refuses the second of two triggers made at once that close a loop together: each is checked against the other', async () => {
    // five pairs at once, each pair a loop p → q → p; before the creates took turns, both of a pair passed
    const pairs = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        Promise.all([
          alice('POST', '/v1/triggers', { prefix: `race${i}/p/`, function: fn, endpoint: ep, outputPrefix: `race${i}/q/` }),
          alice('POST', '/v1/triggers', { prefix: `race${i}/q/`, function: fn, endpoint: ep, outputPrefix: `race${i}/p/` }),
        ]),
      ),
    );
    for (const pair of pairs) {
      expect(pair.map((r) => r.status).sort()).toEqual([201, 400]);
      expect(pair.find((r) => r.status === 400)!.body.message).toMatch(/through your other triggers/);
    }
  });

  it('records a firing it cannot run (its endpoint deleted) once, with the reason, and makes no task', async () => {
    const gone = (await alice('POST', '/v1/endpoints', { name: 'gone' })).body.endpoint.id;
    const fn2 = (await alice('POST', '/v1/functions', { name: 'size2', runtime: 'js', source: '(b) => b.length + 0' })).body.id;
    const t = await alice('POST', '/v1/triggers', { prefix: 'gone/', function: fn2, endpoint: gone });
    expect((await alice('DELETE', `/v1/endpoints/${gone}`)).status).toBe(204);
    await aliceObjects.put(Buffer.from('x'), { name: 'gone/x' });
    await eventually(async () => (await alice('GET', `/v1/triggers/${t.body.id}`)).body.fired === 1, 30_000, 'the firing recorded');
    await new Promise((r) => setTimeout(r, 300));
    expect((await alice('GET', `/v1/triggers/${t.body.id}`)).body.fired).toBe(1);
    expect(await tasksOf(fn2)).toHaveLength(0);
  });

  it("fires another user's object within the first page, not after a backlog of thousands of one user's", async () => {
    const fnA = (await alice('POST', '/v1/functions', { name: 'backlog', runtime: 'js', source: '(b) => b.length + 1' })).body.id;
    const fnB = (await bob('POST', '/v1/functions', { name: 'bobs', runtime: 'js', source: '(b) => b.length' })).body.id;
    const epB = (await bob('POST', '/v1/endpoints', { name: 'bob-ep' })).body.endpoint.id;
    const ta = (await alice('POST', '/v1/triggers', { prefix: 'backlog/', function: fnA, endpoint: ep })).body.id as string;
    const tb = (await bob('POST', '/v1/triggers', { prefix: 'mine/', function: fnB, endpoint: epB })).body.id as string;
    const seed = (await aliceObjects.put(Buffer.from('seed'), { name: 'seed' })).body;
    // 2,000 of alice's named objects under her trigger's prefix, written at once (no put's hook fires them):
    // a backlog of firings owed, all older than bob's object
    const db: Database = server.app.get(DATABASE);
    const backlog = 2_000;
    await db.sql.exec(
      `INSERT INTO objects (id, owner_id, name, sha256, size)
       SELECT gen_random_uuid(), s.owner_id, 'backlog/' || g, s.sha256, s.size FROM objects s, generate_series(1, $2::int) g WHERE s.id = $1::uuid`,
      [seed.id, backlog],
    );
    const order: string[] = [];
    const repo = server.app.get(TriggersRepository);
    const record = repo.recordFiring.bind(repo);
    const spy = jest.spyOn(repo, 'recordFiring').mockImplementation(async (f) => {
      order.push(f.triggerId);
      await record(f);
    });
    try {
      expect((await bobObjects.put(Buffer.from('b'), { name: 'mine/b' })).status).toBe(201);
      // returns once a pass that began after this call is done: everything owed now has fired
      await server.app.get(TriggersService).drain();
    } finally {
      spy.mockRestore();
    }
    expect((await alice('GET', `/v1/triggers/${ta}`)).body.fired).toBe(backlog);
    expect((await bob('GET', `/v1/triggers/${tb}`)).body.fired).toBe(1);
    expect(order.filter((t) => t === tb)).toHaveLength(1);
    // second in the first page read after his put (alice's oldest owed first, then his), behind at most
    // a page of 500 of hers that a sweep had under way
    expect(order.indexOf(tb)).toBeLessThanOrEqual(501);
  });
});
