import { execFile } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { jest } from '@jest/globals';
import WebSocket from 'ws';
import { parse, stringify } from 'yaml';
import { CACHED_RESULTS_MAX_BYTES, PROTOCOL_VERSION, type CachedOutcome, type SubmitBatchResponse } from '@fx/protocol';
import { Client, itemRef, type TaskOutcome } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually, tempDir, type Backend, type TempDir } from '@fx/testing';

/**
 * Memoized results (issue 14) with real processes. Every function here appends a line to a file before
 * it answers, so the file's length counts executions: a cache hit that ran would show. The agents run
 * without a sandbox, so that the tasks can write that file. The whole suite runs on PostgreSQL + Redis;
 * the embedded store runs the main case.
 */
jest.setTimeout(300_000);
const FX = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'apps/cli/bin/fx.js');

/**
 * A shell template that counts its runs in {file} and answers {x} (after {pause} seconds). The tag makes
 * each function's content, and so its entries, its own (entries are keyed by content, not by name).
 */
const counted = (tag: string) => `: ${tag}; sleep {pause}; echo {x} >> {file}; echo {x}`;

/** As `counted`, answering {x} padded with {pad} bytes of `a` (and at once). */
const padded = (tag: string) => `: ${tag}; echo {x} >> {file}; printf '%s' {x}; head -c {pad} /dev/zero | tr '\\0' a`;

/** One client socket, speaking frames directly: what the server sends is recorded as it comes. */
class RawSocket {
  readonly frames: Array<{ type: string; id?: string; payload: Record<string, unknown> }> = [];
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => this.frames.push(JSON.parse(String(data))));
  }

  static async open(url: string, token: string): Promise<RawSocket> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws/client`, { headers: { authorization: `Bearer ${token}` }, maxPayload: 64 * 1024 * 1024 });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return new RawSocket(ws);
  }

  /** `takesCached: false`: as a client that predates `cachedResults` submits. */
  async submit(batch: unknown, takesCached = true): Promise<SubmitBatchResponse> {
    const id = `t${this.frames.length}-${Math.random()}`;
    this.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, type: 'submit', id, payload: { watch: true, ...(takesCached ? { takesCached } : {}), batch } }));
    let answer: { payload: Record<string, unknown> } | undefined;
    await eventually(async () => (answer = this.frames.find((f) => f.id === id)) !== undefined, 30_000, 'the answer to the submit frame');
    expect(answer).toMatchObject({ type: 'submitted' });
    return answer!.payload.batch as SubmitBatchResponse;
  }

  /** Every outcome the result frames carried so far, in order. */
  results(): TaskOutcome[] {
    return this.frames.filter((f) => f.type === 'result').flatMap((f) => f.payload.results as TaskOutcome[]);
  }

  close(): void {
    this.ws.close();
  }
}

async function agent(server: ServerProcess, name: string, token: string): Promise<EndpointProcess> {
  const ep = await EndpointProcess.configure(server, name, { workers: 2, token });
  const path = join(ep.home.path, 'endpoints', name, 'config.yaml');
  await writeFile(path, stringify({ ...(parse(await readFile(path, 'utf8')) as object), sandbox: 'none' }));
  ep.start();
  return ep;
}

describe.each<Backend>(['postgres+redis', 'embedded'])('memoized results on %s', (backend) => {
  const full = backend === 'postgres+redis';
  let server: ServerProcess;
  let aliceEp: EndpointProcess;
  let bobEp: EndpointProcess | undefined;
  let alice: Client;
  let bob: Client;
  let aliceToken: string;
  let bobToken: string;
  let dir: TempDir;
  let n = 0;
  const logs = () => `--- server ---\n${server?.log()}\n--- alice's agent ---\n${aliceEp?.log()}`;
  /** A fresh counter file, writable by whoever runs the task. */
  const counter = async () => {
    const file = join(dir.path, `count-${++n}`);
    await writeFile(file, '');
    await chmod(file, 0o666);
    return file;
  };
  const runs = async (file: string) => (await readFile(file, 'utf8')).split('\n').filter(Boolean).length;
  const value = <T>(c: Client, id: string) => c.getResult<T>(id, { timeoutMs: 60_000 }).catch((e) => Promise.reject(new Error(`${e}\n${logs()}`)));
  const stdout = async (c: Client, id: string) => ((await value<{ stdout: string }>(c, id)).stdout ?? '').trim();
  /** A task's info once it is final (an identical task submitted as another's result arrives waits a moment for its entry). */
  const final = async (c: Client, id: string) => {
    await value(c, id);
    return c.getTask(id);
  };

  beforeAll(async () => {
    dir = await tempDir('fx-memo');
    await chmod(dir.path, 0o777);
    server = await ServerProcess.start(backend, { FX_SWEEP_INTERVAL_MS: '500' });
    const admin = new Client({ url: server.url, token: server.adminToken });
    const tokens: string[] = [];
    for (const name of ['alice', 'bob']) tokens.push((await admin.createToken((await admin.createUser({ name })).id)).token);
    admin.close();
    bobToken = tokens[1]!;
    aliceToken = tokens[0]!;
    alice = new Client({ url: server.url, token: aliceToken });
    bob = new Client({ url: server.url, token: bobToken });
    aliceEp = await agent(server, 'alice-ep', aliceToken);
    if (full) bobEp = await agent(server, 'bob-ep', bobToken);
    for (const [c, ep] of [[alice, aliceEp], ...(bobEp ? [[bob, bobEp] as const] : [])] as const) {
      await eventually(async () => (await c.getEndpoint(ep.endpointId)).state === 'online', 30_000, `${ep.name} online`);
    }
  });

  afterAll(async () => {
    alice?.close();
    bob?.close();
    await aliceEp?.stop();
    await bobEp?.stop();
    await server?.stop();
    await dir?.remove();
  });

  it('completes an identical task from the stored result without running it, in task info, results and the socket', async () => {
    const fn = await alice.registerShellFunction(counted('counted'), { name: 'counted', cache: { ttlSeconds: 600 } });
    expect((await alice.getFunction(fn)).cache).toEqual({ ttlSeconds: 600, shareable: false });
    const file = await counter();
    const first = await alice.run(fn, aliceEp.endpointId, [], { x: 'one', file, pause: 0 });
    expect(await stdout(alice, first)).toBe('one');
    // the same arguments, with the keys in another order: a hit that never reaches the endpoint
    const again = await alice.run(fn, aliceEp.endpointId, [], { pause: 0, file, x: 'one' });
    expect(await stdout(alice, again)).toBe('one');
    expect(await runs(file)).toBe(1);
    const info = await alice.getTask(again);
    expect(info).toMatchObject({ status: 'success', cached: true, cachedFrom: first });
    expect(info.timeline.dispatchedAt).toBeNull();
    expect((await alice.getTask(first)).cached).toBe(false);
    const [entry] = (await alice.getTaskResults([again])).tasks;
    expect(entry).toMatchObject({ status: 'success', cached: true, cachedFrom: first });
    const outcomes: TaskOutcome[] = [];
    for await (const o of alice.results([again], { timeoutMs: 30_000 })) outcomes.push(o);
    expect(outcomes[0]).toMatchObject({ status: 'success', cached: true, cachedFrom: first });

    // other arguments run; cache: false runs anyway; a batch mixes hits and new work
    const other = await alice.run(fn, aliceEp.endpointId, [], { x: 'two', file, pause: 0 });
    expect(await stdout(alice, other)).toBe('two');
    const forced = await alice.run(fn, aliceEp.endpointId, [], { x: 'one', file, pause: 0 }, { cache: false });
    expect(await stdout(alice, forced)).toBe('one');
    expect(await runs(file)).toBe(3);
    const batch = await alice.runBatch(aliceEp.endpointId, [
      { functionId: fn, kwargs: { x: 'one', file, pause: 0 } },
      { functionId: fn, kwargs: { x: 'two', file, pause: 0 } },
      { functionId: fn, kwargs: { x: 'three', file, pause: 0 } },
    ]);
    expect(await Promise.all(batch.map((id) => stdout(alice, id)))).toEqual(['one', 'two', 'three']);
    expect(await runs(file)).toBe(4);
    expect((await alice.getTaskStatuses(batch)).tasks.map((t) => t.status)).toEqual(['success', 'success', 'success']);
    expect((await alice.getTask(batch[1]!)).cachedFrom).toBe(other);

    // cache: true on a function registered without a TTL memoizes with the server's default
    const plain = await alice.registerShellFunction(counted('plain'), { name: 'plain' });
    const plainFile = await counter();
    const p1 = await alice.run(plain, aliceEp.endpointId, [], { x: 'p', file: plainFile, pause: 0 }, { cache: true });
    await stdout(alice, p1);
    const p2 = await alice.run(plain, aliceEp.endpointId, [], { x: 'p', file: plainFile, pause: 0 }, { cache: true });
    expect((await final(alice, p2)).cachedFrom).toBe(p1);
    const p3 = await alice.run(plain, aliceEp.endpointId, [], { x: 'p', file: plainFile, pause: 0 });
    await stdout(alice, p3);
    expect(await runs(plainFile)).toBe(2);
  });

  it("memoizes a dependent by its arguments with its inputs' results in place: an identical graph's dependent does not run", async () => {
    const fn = await alice.registerShellFunction(counted('dependent'), { name: 'dependent', cache: { ttlSeconds: 600 } });
    const word = await alice.registerFunction((w: string) => w.toUpperCase(), { name: 'word' });
    const file = await counter();
    const graph = (w: string) =>
      alice.runBatch(aliceEp.endpointId, [
        { functionId: word, args: [w] },
        { functionId: fn, kwargs: { x: itemRef(0), file, pause: 0 } },
      ]);
    const [, first] = await graph('dep');
    expect(await stdout(alice, first!)).toBe('DEP');
    const [input, second] = await graph('dep');
    expect(await stdout(alice, second!)).toBe('DEP');
    expect(await runs(file)).toBe(1);
    const info = await final(alice, second!);
    expect(info).toMatchObject({ status: 'success', cached: true, cachedFrom: first, kwargs: { x: 'DEP', file, pause: 0 } });
    expect(info.timeline.dispatchedAt).toBeNull();
    // the input itself is not memoized: it ran again, and its result made the same arguments
    expect((await final(alice, input!)).cached).toBe(false);
    const [, other] = await graph('new');
    expect(await stdout(alice, other!)).toBe('NEW');
    expect((await final(alice, other!)).cached).toBe(false);
    expect(await runs(file)).toBe(2);
  });

  if (!full) return;

  it('runs identical tasks submitted together once (single flight) and gives each the result', async () => {
    const fn = await alice.registerShellFunction(counted('slow-counted'), { name: 'slow-counted', cache: { ttlSeconds: 600 } });
    const file = await counter();
    const kwargs = { x: 'flight', file, pause: 2 };
    const batch = await alice.runBatch(
      aliceEp.endpointId,
      Array.from({ length: 6 }, () => ({ functionId: fn, kwargs })),
    );
    const singles = await Promise.all(Array.from({ length: 4 }, () => alice.run(fn, aliceEp.endpointId, [], kwargs)));
    const ids = [...batch, ...singles];
    expect(await Promise.all(ids.map((id) => stdout(alice, id)))).toEqual(ids.map(() => 'flight'));
    expect(await runs(file)).toBe(1);
    const infos = await Promise.all(ids.map((id) => alice.getTask(id)));
    const ran = infos.filter((t) => !t.cached);
    expect(ran).toHaveLength(1);
    expect(infos.filter((t) => t.cached).every((t) => t.cachedFrom === ran[0]!.id)).toBe(true);
  });

  it('lets the waiting tasks run themselves when the execution they wait for is cancelled', async () => {
    const fn = await alice.registerShellFunction(counted('cancelled-leader'), { name: 'cancelled-leader', cache: { ttlSeconds: 600 } });
    const file = await counter();
    const kwargs = { x: 'again', file, pause: 3 };
    const leader = await alice.run(fn, aliceEp.endpointId, [], kwargs);
    await eventually(async () => (await alice.getTask(leader)).status === 'running', 30_000, 'leader running');
    const followers = await alice.runBatch(aliceEp.endpointId, [
      { functionId: fn, kwargs },
      { functionId: fn, kwargs },
    ]);
    expect((await alice.getTaskStatuses(followers)).tasks.map((t) => t.status)).toEqual(['received', 'received']);
    await alice.cancel(leader);
    expect(await Promise.all(followers.map((id) => stdout(alice, id)))).toEqual(['again', 'again']);
    expect((await Promise.all(followers.map((id) => alice.getTask(id)))).every((t) => !t.cached)).toBe(true);
  });

  it('expires an entry after its TTL, on its own', async () => {
    const fn = await alice.registerShellFunction(counted('short-lived'), { name: 'short-lived', cache: { ttlSeconds: 2 } });
    const long = await alice.registerShellFunction(counted('long-lived'), { name: 'long-lived', cache: { ttlSeconds: 600 } });
    const file = await counter();
    const [a, b] = await Promise.all([fn, long].map((f) => alice.run(f, aliceEp.endpointId, [], { x: 'ttl', file, pause: 0 })));
    await Promise.all([a, b].map((id) => stdout(alice, id!)));
    const hit = await alice.run(fn, aliceEp.endpointId, [], { x: 'ttl', file, pause: 0 });
    expect((await final(alice, hit)).cachedFrom).toBe(a);
    await new Promise((r) => setTimeout(r, 2_500));
    const [c, d] = await Promise.all([fn, long].map((f) => alice.run(f, aliceEp.endpointId, [], { x: 'ttl', file, pause: 0 })));
    await Promise.all([c, d].map((id) => stdout(alice, id!)));
    expect((await alice.getTask(c!)).cached).toBe(false);
    expect((await alice.getTask(d!)).cachedFrom).toBe(b);
    expect(await runs(file)).toBe(3);
  });

  it('clears with client.clearCache and fx cache clear', async () => {
    const fn = await alice.registerShellFunction(counted('cleared'), { name: 'cleared', cache: { ttlSeconds: 600 } });
    const file = await counter();
    const kwargs = { x: 'c', file, pause: 0 };
    await stdout(alice, await alice.run(fn, aliceEp.endpointId, [], kwargs));
    expect(await alice.clearCache('cleared')).toBe(1);
    await stdout(alice, await alice.run(fn, aliceEp.endpointId, [], kwargs));
    expect(await runs(file)).toBe(2);
    const cli = await promisify(execFile)(FX, ['--json', 'cache', 'clear', 'cleared'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, FX_HOME: dir.path, FX_URL: server.url, FX_TOKEN: aliceToken },
    });
    expect(JSON.parse(cli.stdout)).toEqual({ function: 'cleared', cleared: 1 });
    await stdout(alice, await alice.run(fn, aliceEp.endpointId, [], kwargs));
    expect(await runs(file)).toBe(3);
  });

  it("keeps each user's entries private unless the function is public and shareable", async () => {
    const file = await counter();
    const kwargs = { x: 'p', file, pause: 0 };
    // public, not shareable: bob runs alice's function in his own scope
    const own = await alice.registerShellFunction(counted('public-own'), { name: 'public-own', public: true, cache: { ttlSeconds: 600 } });
    await stdout(alice, await alice.run(own, aliceEp.endpointId, [], kwargs));
    const bobsRun = await bob.run(own, bobEp!.endpointId, [], kwargs);
    expect(await stdout(bob, bobsRun)).toBe('p');
    expect((await bob.getTask(bobsRun)).cached).toBe(false);
    expect(await runs(file)).toBe(2);
    // and his own identical function (same content hash) never meets alice's entries either
    const bobsOwn = await bob.registerShellFunction(counted('public-own'), { name: 'public-own', cache: { ttlSeconds: 600 } });
    const again = await bob.run(bobsOwn, bobEp!.endpointId, [], kwargs);
    expect((await final(bob, again)).cachedFrom).toBe(bobsRun);

    // public and shareable: bob's identical task completes from alice's result
    const shared = await alice.registerShellFunction(counted('public-shared'), {
      name: 'public-shared',
      public: true,
      cache: { ttlSeconds: 600, shareable: true },
    });
    const sharedFile = await counter();
    const sk = { x: 's', file: sharedFile, pause: 0 };
    const alicesRun = await alice.run(shared, aliceEp.endpointId, [], sk);
    await stdout(alice, alicesRun);
    const bobsHit = await bob.run(shared, bobEp!.endpointId, [], sk);
    expect(await stdout(bob, bobsHit)).toBe('s');
    await expectSourceHidden(bobsHit, alicesRun);
    expect(await runs(sharedFile)).toBe(1);
    // bob may clear only his own scope; alice, the owner, clears the shared entries
    expect(await bob.clearCache(shared)).toBe(0);
    expect((await final(bob, await bob.run(shared, bobEp!.endpointId, [], sk))).cached).toBe(true);
    expect(await alice.clearCache(shared)).toBe(1);
    await stdout(bob, await bob.run(shared, bobEp!.endpointId, [], sk));
    expect(await runs(sharedFile)).toBe(2);
    // only the owner's executions fill shared entries: what bob's endpoint returned is never served to alice
    const pk = { x: 'q', file: sharedFile, pause: 0 };
    expect(await stdout(bob, await bob.run(shared, bobEp!.endpointId, [], pk))).toBe('q');
    const alicesAfter = await alice.run(shared, aliceEp.endpointId, [], pk);
    expect(await stdout(alice, alicesAfter)).toBe('q');
    expect((await final(alice, alicesAfter)).cached).toBe(false);
    expect(await runs(sharedFile)).toBe(4);
  });

  /**
   * Bob's task completed from alice's shared entry: everywhere bob reads it, it says `cached: true` but
   * not alice's task id (he cannot read that task; the id would only tell him what she ran), in task
   * info, the results poll, a batch's answer, a subscription's catch-up and the SDK's outcomes; an admin
   * reading it sees the id.
   */
  async function expectSourceHidden(bobsHit: string, alicesRun: string) {
    expect(await final(bob, bobsHit)).toMatchObject({ cached: true, cachedFrom: null });
    const admin = new Client({ url: server.url, token: server.adminToken });
    try {
      expect((await admin.getTask(bobsHit)).cachedFrom).toBe(alicesRun);
    } finally {
      admin.close();
    }
    // the results poll (REST), and the SDK's outcome (its socket's subscription)
    const polled = (await bob.getTaskResults([bobsHit])).tasks[0]!;
    expect(polled).toMatchObject({ taskId: bobsHit, status: 'success', cached: true });
    expect(polled).not.toHaveProperty('cachedFrom');
    for await (const o of bob.results([bobsHit], { timeoutMs: 60_000 })) {
      expect(o).toMatchObject({ taskId: bobsHit, cached: true });
      expect(o.cachedFrom).toBeUndefined();
    }

    const socket = await RawSocket.open(server.url, bobToken);
    try {
      const { functionId: fn, kwargs } = await bob.getTask(bobsHit);
      // a batch's answer (cachedResults), and the catch-up of a client that takes its hits by subscription
      const answer = await socket.submit({ endpointId: bobEp!.endpointId, tasks: [{ functionId: fn, kwargs }] });
      expect(answer.cachedResults).toEqual([expect.objectContaining({ taskId: answer.taskIds[0], cached: true })]);
      expect(answer.cachedResults![0]).not.toHaveProperty('cachedFrom');
      const older = await socket.submit({ endpointId: bobEp!.endpointId, tasks: [{ functionId: fn, kwargs }] }, false);
      await eventually(async () => socket.results().length >= 1, 60_000, 'the hit relayed by subscription');
      expect(socket.results()).toEqual([expect.objectContaining({ taskId: older.taskIds[0], cached: true })]);
      expect(socket.results()[0]).not.toHaveProperty('cachedFrom');
      expect(JSON.stringify(socket.frames)).not.toContain(alicesRun);
    } finally {
      socket.close();
    }
  }

  // ---- cache hits in the answer of a batch (SubmitBatchResponse.cachedResults) ----
  const stdoutOf = (o: TaskOutcome | CachedOutcome) => (o.result as { stdout: string }).stdout;
  /** Runs a batch through the SDK and waits for every result: the primed entries. */
  const prime = async (fn: string, items: Array<Record<string, unknown>>) => {
    const ids = await alice.runBatch(
      aliceEp.endpointId,
      items.map((kwargs) => ({ functionId: fn, kwargs })),
    );
    await alice.getResults(ids, { timeoutMs: 120_000 });
    return ids;
  };

  it('answers the hits with their outcomes and relays only the new tasks; the SDK resolves the hits from the answer', async () => {
    const fn = await alice.registerShellFunction(padded('inline'), { name: 'inline', cache: { ttlSeconds: 600 } });
    const file = await counter();
    const kwargs = (x: string) => ({ x, file, pad: 0 });
    const primed = await prime(fn, ['a', 'b', 'c', 'd', 'e'].map(kwargs));
    expect(await runs(file)).toBe(5);

    const socket = await RawSocket.open(server.url, aliceToken);
    try {
      const answer = await socket.submit({
        endpointId: aliceEp.endpointId,
        tasks: ['a', 'b', 'c', 'd', 'e', 'new1', 'new2'].map((x) => ({ functionId: fn, kwargs: kwargs(x) })),
      });
      expect(answer.taskIds).toHaveLength(7);
      const inline = new Map(answer.cachedResults!.map((o) => [o.taskId, o]));
      expect([...inline.keys()].sort()).toEqual(answer.taskIds.slice(0, 5).sort());
      answer.taskIds.slice(0, 5).forEach((id, i) => {
        expect(inline.get(id)).toMatchObject({ status: 'success', cached: true, cachedFrom: primed[i] });
        expect(stdoutOf(inline.get(id)!)).toBe('abcde'[i]);
      });
      // the new ones arrive by result frames, once each; the hits never do
      await eventually(async () => socket.results().length >= 2, 60_000, 'the new tasks relayed');
      await new Promise((r) => setTimeout(r, 500));
      const relayed = socket.results();
      expect(relayed.map((o) => o.taskId).sort()).toEqual(answer.taskIds.slice(5).sort());
      expect(relayed.map(stdoutOf).sort()).toEqual(['new1', 'new2']);
    } finally {
      socket.close();
    }
    expect(await runs(file)).toBe(7);

    // a client that does not say takesCached is relayed its hits too, as before the answer carried them
    const older = await RawSocket.open(server.url, aliceToken);
    try {
      const answer = await older.submit({ endpointId: aliceEp.endpointId, tasks: ['a', 'b'].map((x) => ({ functionId: fn, kwargs: kwargs(x) })) }, false);
      expect(answer.cachedResults?.map((o) => o.taskId).sort()).toEqual([...answer.taskIds].sort());
      await eventually(async () => older.results().length >= 2, 60_000, 'the hits relayed to an older client');
      expect(older.results().map(stdoutOf).sort()).toEqual(['a', 'b']);
    } finally {
      older.close();
    }
    expect(await runs(file)).toBe(7);

    // the SDK: hits resolve with cached: true and their values, and still did not run
    const again = await alice.runBatch(
      aliceEp.endpointId,
      ['a', 'new1', 'e', 'new3'].map((x) => ({ functionId: fn, kwargs: kwargs(x) })),
    );
    const outcomes = new Map<string, TaskOutcome>();
    for await (const o of alice.results(again, { timeoutMs: 60_000 })) {
      expect(outcomes.has(o.taskId)).toBe(false);
      outcomes.set(o.taskId, o);
    }
    expect(again.map((id) => stdoutOf(outcomes.get(id)!))).toEqual(['a', 'new1', 'e', 'new3']);
    expect(again.map((id) => outcomes.get(id)!.cached ?? false)).toEqual([true, true, true, false]);
    expect(await alice.getResults(again.slice(0, 3))).toHaveLength(3);
    expect(await runs(file)).toBe(8);
  });

  it('past the budget, the answer carries some hits and the subscription delivers the rest, each task once', async () => {
    const fn = await alice.registerShellFunction(padded('big'), { name: 'big', cache: { ttlSeconds: 600 } });
    const file = await counter();
    // 24 results of 300 kB: about 7 MB of hits, past the answer's 4 MiB
    const xs = Array.from({ length: 24 }, (_, i) => `big${i}`);
    const pad = 300_000;
    const primed = await prime(
      fn,
      xs.map((x) => ({ x, file, pad })),
    );
    expect(await runs(file)).toBe(24);

    const socket = await RawSocket.open(server.url, aliceToken);
    try {
      const answer = await socket.submit({ endpointId: aliceEp.endpointId, tasks: xs.map((x) => ({ functionId: fn, kwargs: { x, file, pad } })) });
      const inline = answer.cachedResults ?? [];
      expect(inline.length).toBeGreaterThan(0);
      expect(inline.length).toBeLessThan(xs.length);
      expect(inline.reduce((s, o) => s + JSON.stringify(o.result).length, 0)).toBeLessThanOrEqual(CACHED_RESULTS_MAX_BYTES);
      const inlineIds = new Set(inline.map((o) => o.taskId));
      await eventually(async () => socket.results().length >= xs.length - inline.length, 60_000, 'the hits past the budget relayed');
      await new Promise((r) => setTimeout(r, 500));
      const relayed = socket.results();
      expect(relayed.filter((o) => inlineIds.has(o.taskId))).toEqual([]);
      const all = [...inline, ...relayed];
      expect(all.map((o) => o.taskId).sort()).toEqual([...answer.taskIds].sort());
      for (const o of all) {
        const i = answer.taskIds.indexOf(o.taskId);
        expect(o).toMatchObject({ status: 'success', cached: true, cachedFrom: primed[i] });
        expect(stdoutOf(o)).toBe(xs[i] + 'a'.repeat(pad));
      }
    } finally {
      socket.close();
    }

    // the SDK over REST or the socket: every value, the ones past the budget through its subscription
    const ids = await alice.runBatch(
      aliceEp.endpointId,
      xs.map((x) => ({ functionId: fn, kwargs: { x, file, pad } })),
    );
    const values = await alice.getResults<{ stdout: string }>(ids, { timeoutMs: 60_000 });
    expect(values.map((v) => v.stdout)).toEqual(xs.map((x) => x + 'a'.repeat(pad)));
    expect(await runs(file)).toBe(24);
  });
});
