import { jest } from '@jest/globals';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually, type Backend } from '@fx/testing';

/**
 * Triggers (issue 15) with real processes: the AWS reference architecture (a file landing under
 * `input/` runs a function that writes `output/`), self-hosted. Puts made while the endpoint is offline
 * run when it returns; every object fires exactly once, across a server crash between puts and firings.
 */
jest.setTimeout(300_000);

describe.each<Backend>(['postgres+redis', 'embedded'])('triggers on %s', (backend) => {
  let server: ServerProcess;
  let ep: EndpointProcess;
  let alice: Client;
  let bob: Client;
  const logs = () => `--- server ---\n${server?.log()}\n--- agent ---\n${ep?.log(30_000)}`;

  beforeAll(async () => {
    server = await ServerProcess.start(backend, { FX_SWEEP_INTERVAL_MS: '500' });
    const admin = new Client({ url: server.url, token: server.adminToken });
    const tokens: string[] = [];
    for (const name of ['alice', 'bob']) tokens.push((await admin.createToken((await admin.createUser({ name })).id)).token);
    admin.close();
    alice = new Client({ url: server.url, token: tokens[0]! });
    bob = new Client({ url: server.url, token: tokens[1]! });
    // configured, not started: the first puts land while the endpoint is offline
    ep = await EndpointProcess.configure(server, 'alice-ep', { workers: 2, token: tokens[0]! });
  });

  afterAll(async () => {
    alice?.close();
    bob?.close();
    await ep?.stop();
    await server?.stop();
  });

  /** The output objects under `prefix`, by name. */
  const outputs = async (c: Client, prefix: string) => new Map((await c.objects.list({ prefix, limit: 1000 })).items.map((o) => [o.name!, o]));

  it('runs the function once per object put under the prefix, offline puts included, and stores each result under the output prefix', async () => {
    // the input's bytes, read back and described: the output proves the function saw the object's content
    const describe = await alice.registerFunction((input: Buffer) => ({ size: input.length, text: input.toString('utf8') }), { name: 'describe' });
    const trigger = await alice.createTrigger({ prefix: 'input/', function: describe, endpoint: ep.endpointId, outputPrefix: 'output/' });
    expect(trigger).toMatchObject({ prefix: 'input/', functionId: describe, endpointId: ep.endpointId, outputPrefix: 'output/', fired: 0 });
    expect((await alice.triggers.list()).map((t) => t.id)).toEqual([trigger.id]);

    const put = (i: number) => alice.put(Buffer.from(`sample ${i}`), { name: `input/run-1/s-${i}.txt` });
    for (let i = 0; i < 50; i++) await put(i);
    // an object outside the prefix fires nothing
    await alice.put(Buffer.from('elsewhere'), { name: 'notes/s-0.txt' });
    // offline: the firings are durable tasks waiting for the endpoint
    await eventually(async () => (await alice.triggers.get(trigger.id)).fired === 50, 30_000, `50 firings while offline\n${logs()}`);
    ep.start();
    for (let i = 50; i < 100; i++) await put(i);

    await eventually(async () => (await outputs(alice, 'output/')).size === 100, 120_000, `100 outputs\n${logs()}`);
    const out = await outputs(alice, 'output/');
    for (const i of [0, 17, 49, 50, 99]) {
      const o = out.get(`output/run-1/s-${i}.txt`);
      expect(o).toBeDefined();
      expect(o!.encoding).toBe('json');
      expect(await alice.get(o!.ref)).toEqual({ size: `sample ${i}`.length, text: `sample ${i}` });
    }
    // exactly once: one task per object, whatever the hook and the sweep both saw
    expect((await alice.triggers.get(trigger.id)).fired).toBe(100);
    const tasks = await alice.listTasks({ functionId: describe, limit: 1000 });
    expect(tasks.items).toHaveLength(100);
    expect(tasks.items.every((t) => t.status === 'success')).toBe(true);

    // another user sees none of it, and cannot delete it
    expect(await bob.triggers.list()).toEqual([]);
    await expect(bob.triggers.get(trigger.id)).rejects.toMatchObject({ status: 404 });
    await expect(bob.triggers.delete(trigger.id)).rejects.toMatchObject({ status: 404 });
    // bob's own puts under the same prefix fire nothing of alice's
    await bob.put(Buffer.from('bob'), { name: 'input/run-1/bob.txt' });

    // deleted: later puts fire nothing
    await alice.triggers.delete(trigger.id);
    await alice.put(Buffer.from('late'), { name: 'input/run-1/late.txt' });
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await alice.listTasks({ functionId: describe, limit: 1000 })).items).toHaveLength(100);
  });

  it('refuses a trigger whose outputs would fire it again, and one on a function or endpoint the caller may not use', async () => {
    const fn = await alice.registerFunction((b: Buffer) => b.length, { name: 'len' });
    await expect(alice.createTrigger({ prefix: 'data/', function: fn, endpoint: ep.endpointId, outputPrefix: 'data/out/' })).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(/would fire it again/),
    });
    await expect(bob.createTrigger({ prefix: 'in/', function: fn, endpoint: ep.endpointId })).rejects.toMatchObject({ status: 404 });
  });

  if (backend !== 'postgres+redis') return;

  it('fires exactly once for objects put just before a server crash', async () => {
    if (!ep.running) ep.start();
    const fn = await alice.registerFunction((b: Buffer) => b.length, { name: 'crash-len' });
    const trigger = await alice.createTrigger({ prefix: 'crash/', function: fn, endpoint: ep.endpointId, outputPrefix: 'crash-out/' });
    await Promise.all(Array.from({ length: 20 }, (_, i) => alice.put(Buffer.alloc(i + 1), { name: `crash/${i}` })));
    // whatever the in-process hook had fired when the server died, the sweep after the restart fires the rest
    await server.restart();
    // on a failure, the tasks that did not succeed, with their errors
    const unsettled = async () =>
      JSON.stringify(
        await Promise.all((await alice.listTasks({ functionId: fn, limit: 1000 })).items.filter((t) => t.status !== 'success').map((t) => alice.getTask(t.id))),
      );
    await eventually(async () => (await outputs(alice, 'crash-out/')).size === 20, 120_000, '20 outputs after the crash').catch(async (e: Error) => {
      throw new Error(`${e.message}; tasks not succeeded: ${await unsettled()}\n${logs()}`);
    });
    const out = await outputs(alice, 'crash-out/');
    for (let i = 0; i < 20; i++) expect(await alice.get(out.get(`crash-out/${i}`)!.ref)).toBe(i + 1);
    expect((await alice.triggers.get(trigger.id)).fired).toBe(20);
    expect((await alice.listTasks({ functionId: fn, limit: 1000 })).items).toHaveLength(20);
  });
});
