import { jest } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { TaskSpec } from '@fx/protocol';
import { AgentState } from '../../apps/endpoint/src/agent/agent.state.js';
import { EndpointAgent } from '../../apps/endpoint/src/agent/endpoint.agent.js';
import { LocalProvider } from '../../apps/endpoint/src/providers/local/local.provider.js';
import { FakeFxServer } from '../../apps/endpoint/src/testing/fake-fx-server.js';
import { makeTask } from '../../apps/endpoint/src/testing/task.factory.js';
import { ensureEndpointBuilt } from '../../apps/endpoint/src/testing/worker-build.js';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually } from '@fx/testing';

/**
 * Issue 10 item 9: a js worker never carries one owner's state into another owner's task. Owner A's
 * public function patches JSON.stringify and leaves a timer collecting what later tasks see; owner B's
 * later task on the same single-worker endpoint (a real agent, real worker processes) is unaffected, while
 * A's own later tasks keep reusing A's worker (no restart per task).
 *
 * The tasks carry `ownerId` as the server sends it (TaskSpec.ownerId); the agent and its worker pool are
 * what is under test, so the server end is the agent suite's FakeFxServer.
 */
jest.setTimeout(120_000);

const HOOK = `() => {
  const original = JSON.stringify;
  globalThis.__seen = globalThis.__seen ?? [];
  JSON.stringify = (value, ...rest) => { globalThis.__seen.push(value); return original('hijacked', ...rest); };
  setInterval(() => {}, 1000);
  return process.pid;
}`;
const VICTIM = `(secret) => ({ secret, pid: process.pid, seen: (globalThis.__seen ?? []).length })`;

describe('owner-bound js workers', () => {
  const { workerScript } = ensureEndpointBuilt();
  let dir: string;
  let server: FakeFxServer;
  let agent: EndpointAgent;

  const run = async (task: TaskSpec) => {
    server.enqueue(task);
    await server.waitFor(() => server.results.has(task.taskId), `result of ${task.taskId}`, 30_000);
    return server.results.get(task.taskId) as { status: string; result: unknown };
  };
  const owned = (task: TaskSpec, ownerId: string): TaskSpec => ({ ...task, ownerId });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fx-owner-sec-'));
    server = new FakeFxServer();
    const url = await server.listen();
    const provider = new LocalProvider({ workers: 1, workerScript });
    agent = new EndpointAgent({
      url,
      token: server.endpointToken,
      name: 'owners',
      provider,
      spoolDir: join(dir, 'spool'),
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    });
    await agent.start();
    await agent.waitForState(AgentState.RUNNING);
  });
  afterEach(async () => {
    await agent.stop({ force: true });
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])("owner B's task after owner A's hook: result unchanged, argument not collected (round %i)", async () => {
    const alice = randomUUID();
    const bob = randomUUID();
    const hooked = await run(owned(makeTask('js', HOOK), alice));
    expect(hooked.status).toBe('success');
    const victim = await run(owned(makeTask('js', VICTIM, { args: ['bob-secret'] }), bob));
    expect(victim).toMatchObject({ status: 'success', result: { secret: 'bob-secret', seen: 0 } });
    expect((victim.result as { pid: number }).pid).not.toBe(hooked.result);
  });

  it("reuses the worker for the same owner (its globals persist: no isolation between one owner's tasks)", async () => {
    const alice = randomUUID();
    const first = await run(owned(makeTask('js', `() => { globalThis.__count = (globalThis.__count ?? 0) + 1; return process.pid; }`), alice));
    const second = await run(owned(makeTask('js', `() => ({ pid: process.pid, count: globalThis.__count })`), alice));
    expect(second).toMatchObject({ status: 'success', result: { pid: first.result, count: 1 } });
  });

  it('treats tasks without ownerId as one "unknown" owner, kept apart from owned tasks', async () => {
    const hooked = await run(makeTask('js', HOOK));
    const owner = await run(owned(makeTask('js', VICTIM, { args: ['mine'] }), randomUUID()));
    expect(owner).toMatchObject({ status: 'success', result: { secret: 'mine', seen: 0 } });
    expect((owner.result as { pid: number }).pid).not.toBe(hooked.result);
  });
});

/**
 * The issue's own scenario, through the real server and a real agent, on both stores: Alice runs Bob's
 * public function on her endpoint (so the task is Alice's), and it installs hooks; Alice's own function,
 * run next on the same single-worker endpoint, must not run under them. A worker is bound to the pair
 * (task owner, function author), so code of another author never shares a process with Alice's code.
 */
describe.each(['embedded', 'postgres+redis'] as const)("a public function cannot hook its caller's later tasks (%s)", (backend) => {
  const PUBLIC_HOOK = `() => {
    const original = JSON.stringify;
    globalThis.__seen = [];
    globalThis.__marker = 'planted-by-bob';
    JSON.stringify = (value, ...rest) => { globalThis.__seen.push(value); return original('hijacked', ...rest); };
    const realThen = Promise.prototype.then;
    Promise.prototype.then = function (ok, ko) { return realThen.call(this, (v) => (ok ? ok(v && typeof v === 'object' ? { ...v, rewritten: true } : v) : v), ko); };
    setInterval(() => {}, 1000);
    return 'hooked';
  }`;
  const ALICE_FN = `async (secret) => ({ secret, marker: globalThis.__marker ?? null, seen: (globalThis.__seen ?? []).length, count: (globalThis.__count = (globalThis.__count ?? 0) + 1) })`;
  let server: ServerProcess;
  let endpoint: EndpointProcess;
  let admin: Client;
  let alice: Client;
  let bob: Client;

  beforeAll(async () => {
    server = await ServerProcess.start(backend);
    admin = new Client({ url: server.url, token: server.adminToken });
    const token = async (name: string) => (await admin.createToken((await admin.createUser({ name })).id, { name })).token;
    const aliceToken = await token('alice');
    alice = new Client({ url: server.url, token: aliceToken });
    bob = new Client({ url: server.url, token: await token('bob') });
    endpoint = await EndpointProcess.configure(server, 'alice-box', { workers: 1, token: aliceToken });
    endpoint.start();
    await eventually(async () => (await alice.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'alice-box online');
  }, 120_000);

  afterAll(async () => {
    for (const c of [admin, alice, bob]) c?.close();
    await endpoint?.stop();
    await server?.stop();
  });

  it("runs Alice's own function in a process Bob's code never ran in, and still reuses it for Alice's own tasks", async () => {
    const hook = await bob.registerFunction(new Function(`return ${PUBLIC_HOOK}`)(), { name: 'helpful', public: true });
    const mine = await alice.registerFunction(new Function(`return ${ALICE_FN}`)(), { name: 'mine' });
    for (let round = 0; round < 3; round++) {
      // (its own result already goes through the patched JSON.stringify: that is Bob's business)
      expect(await alice.getResult(await alice.run(hook, endpoint.endpointId, []), { timeoutMs: 60_000 })).toBe('hijacked');
      const first = await alice.getResult<Record<string, unknown>>(await alice.run(mine, endpoint.endpointId, [`alice-secret-${round}`]), {
        timeoutMs: 60_000,
      });
      // one worker: Bob's code ran in it just now, so Alice's task gets a fresh process
      expect(first).toEqual({ secret: `alice-secret-${round}`, marker: null, seen: 0, count: 1 });
      // the same (owner, author) pair keeps its worker: globals persist between Alice's own tasks
      const second = await alice.getResult<Record<string, unknown>>(await alice.run(mine, endpoint.endpointId, ['again']), { timeoutMs: 60_000 });
      expect(second).toEqual({ secret: 'again', marker: null, seen: 0, count: 2 });
    }
  });

  it("binds python workers the same way: state a public python function leaves behind never reaches its caller's own python tasks", async () => {
    const PY_HOOK = `import builtins, json

def hook():
    original = json.dumps
    builtins.__planted__ = "planted-by-bob"
    json.dumps = lambda value, *a, **k: original("hijacked")
    return "hooked"
`;
    // `process`: made once per worker process (a pid would not do: bwrap gives each its own pid namespace)
    const PY_MINE = `import builtins, uuid

count = 0
process = uuid.uuid4().hex

def mine(secret):
    global count
    count += 1
    return {"secret": secret, "marker": getattr(builtins, "__planted__", None), "count": count, "process": process}
`;
    const hook = await bob.registerPythonFunction(PY_HOOK, { name: 'py-helpful', entrypoint: 'hook', public: true });
    const mine = await alice.registerPythonFunction(PY_MINE, { name: 'py-mine', entrypoint: 'mine' });
    const processes = new Set<string>();
    for (let round = 0; round < 2; round++) {
      expect(await alice.getResult(await alice.run(hook, endpoint.endpointId, []), { timeoutMs: 60_000 })).toBe('hooked');
      const first = await alice.getResult<Record<string, unknown>>(await alice.run(mine, endpoint.endpointId, [`alice-${round}`]), { timeoutMs: 60_000 });
      expect(first).toMatchObject({ secret: `alice-${round}`, marker: null, count: 1 });
      const second = await alice.getResult<Record<string, unknown>>(await alice.run(mine, endpoint.endpointId, ['again']), { timeoutMs: 60_000 });
      expect(second).toMatchObject({ secret: 'again', marker: null, count: 2, process: first.process });
      processes.add(first.process as string);
    }
    // a fresh process each round: Bob's code ran in the one before
    expect(processes.size).toBe(2);
  });
});
