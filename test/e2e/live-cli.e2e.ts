import { spawn, spawnSync } from 'node:child_process';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually, tempDir, type TempDir } from '@fx/testing';

/**
 * `fx logs` and `fx progress` (issue 16) as people and scripts use them: the built bin as a child
 * process against the built server and a real fx-endpoint agent, following tasks while they run.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FX = join(root, 'apps/cli/bin/fx.js');
jest.setTimeout(180_000);

let server: ServerProcess;
let endpoint: EndpointProcess;
let home: TempDir;
let alice: Client;
let bob: Client;
let aliceToken: string;
let bobToken: string;
let printer: string;
let steps: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const env = (token: string) => ({ PATH: process.env.PATH, HOME: process.env.HOME, FX_HOME: home.path, FX_URL: server.url, FX_TOKEN: token });

/** Runs the built `fx` bin to its end; never throws. */
function fx(args: string[], token = aliceToken): Run {
  const r = spawnSync(FX, args, { encoding: 'utf8', timeout: 120_000, env: env(token) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the built `fx` bin; `seen(text)` resolves once its stdout holds `text`, `done` when it exits. */
function fxLive(args: string[]): { seen: (text: string) => Promise<void>; done: Promise<Run> } {
  const child = spawn(FX, args, { env: env(aliceToken) });
  const out = { stdout: '', stderr: '' };
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out.stdout += d;
    for (const w of waiters) if (out.stdout.includes(w.text)) w.resolve();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out.stderr += d));
  const done = new Promise<Run>((settle) => child.on('close', (code) => settle({ code, ...out })));
  const seen = (text: string) =>
    new Promise<void>((ok, fail) => {
      if (out.stdout.includes(text)) return ok();
      waiters.push({ text, resolve: ok });
      void done.then((r) => fail(new Error(`fx exited (${r.code}) before printing ${JSON.stringify(text)}:\n${r.stdout}\n${r.stderr}`)));
    });
  return { seen, done };
}

beforeAll(async () => {
  server = await ServerProcess.start('embedded');
  const admin = new Client({ url: server.url, token: server.adminToken });
  aliceToken = (await admin.createToken((await admin.createUser({ name: 'alice' })).id, { name: 'cli' })).token;
  bobToken = (await admin.createToken((await admin.createUser({ name: 'bob' })).id, { name: 'cli' })).token;
  admin.close();
  alice = new Client({ url: server.url, token: aliceToken });
  bob = new Client({ url: server.url, token: bobToken });
  endpoint = await EndpointProcess.configure(server, 'live', { workers: 2, token: aliceToken });
  endpoint.start();
  await eventually(async () => (await alice.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online').catch((e) => {
    throw new Error(`${(e as Error).message}\n${endpoint.log()}\n${server.log()}`);
  });
  home = await tempDir('fx-live-cli-home');
  // n lines on each stream, then `hold` seconds of silence, then a last line
  printer = await alice.registerShellFunction('for i in $(seq 1 {n}); do echo out $i; echo err $i >&2; done; sleep {hold}; echo done', {
    name: 'printer',
    failOnNonZeroExit: true,
  });
  steps = (
    await alice.createFunction({
      name: 'steps',
      runtime: 'js',
      source:
        'async (n, hold) => { for (let i = 1; i <= n; i++) { ctx.emit({ step: i }); await new Promise((r) => setTimeout(r, i === 1 ? hold : 5)); } return n; }',
    })
  ).id;
}, 240_000);

afterAll(async () => {
  alice?.close();
  bob?.close();
  await endpoint?.stop();
  await server?.stop();
  await home?.remove();
});

const lines = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix} ${i + 1}\n`).join('');

describe('fx logs', () => {
  it('-f prints a running task as it prints, each stream on its own, and exits 0 when it succeeds', async () => {
    const id = await alice.run(printer, endpoint.endpointId, [], { n: 3, hold: 120 });
    const live = fxLive(['logs', id, '-f']);
    await live.seen('out 3\n');
    // printed while the task still runs: it sleeps two minutes after these lines
    expect((await alice.getTask(id)).status).toBe('running');
    await alice.cancel(id);
    const r = await live.done;
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(lines(3, 'out'));
    expect(r.stderr).toContain(lines(3, 'err'));
    expect(r.stderr).toMatch(/task .* was cancelled/);

    const ok = await alice.run(printer, endpoint.endpointId, [], { n: 20, hold: 0 });
    const followed = fx(['logs', ok, '--follow']);
    expect(followed.code).toBe(0);
    expect(followed.stdout).toBe(lines(20, 'out') + 'done\n');
    expect(followed.stderr).toBe(lines(20, 'err'));
  });

  it('reads a finished task back, one stream or as JSON lines in print order', async () => {
    const id = await alice.run(printer, endpoint.endpointId, [], { n: 5, hold: 0 });
    await alice.getResult(id, { timeoutMs: 60_000 });
    const all = fx(['logs', id]);
    expect(all).toEqual({ code: 0, stdout: lines(5, 'out') + 'done\n', stderr: lines(5, 'err') });
    const stderr = fx(['logs', id, '--stream', 'stderr']);
    expect(stderr).toEqual({ code: 0, stdout: '', stderr: lines(5, 'err') });
    const json = fx(['--json', 'logs', id]);
    expect(json.code).toBe(0);
    const chunks = json.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { taskId: string; stream: string; seq: number; text: string });
    expect(chunks.every((c) => c.taskId === id)).toBe(true);
    expect(chunks.map((c) => c.seq)).toEqual([...new Set(chunks.map((c) => c.seq))].sort((a, b) => a - b));
    expect(
      chunks
        .filter((c) => c.stream === 'stdout')
        .map((c) => c.text)
        .join(''),
    ).toBe(lines(5, 'out') + 'done\n');
  });

  it("refuses a bad stream as usage, and another user's task as not found", async () => {
    const id = await alice.run(printer, endpoint.endpointId, [], { n: 1, hold: 0 });
    await alice.getResult(id, { timeoutMs: 60_000 });
    expect(fx(['logs', id, '--stream', 'stdin']).code).toBe(2);
    expect(fx(['logs', 'not-a-task']).code).toBe(2);
    const theirs = fx(['logs', id], bobToken);
    expect(theirs.code).toBe(1);
    expect(theirs.stderr).toMatch(/not found/);
    expect(fx(['progress', id], bobToken).code).toBe(1);
  });
});

describe('fx progress', () => {
  it('-f --json prints each event as it comes, in seq order, until the task ends', async () => {
    const id = await alice.run(steps, endpoint.endpointId, [30, 0]);
    const r = fx(['--json', 'progress', id, '-f']);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { taskId: string; seq: number; value: { step: number } });
    expect(events.map((e) => e.seq)).toEqual([...new Set(events.map((e) => e.seq))].sort((a, b) => a - b));
    expect(events.every((e) => e.taskId === id && e.value.step === e.seq)).toBe(true);
    expect(events.at(-1)?.seq).toBe(30);
  });

  it("-f shows a running task's progress before it ends; without -f, the kept values as lines", async () => {
    const id = await alice.run(steps, endpoint.endpointId, [2, 120_000]);
    const live = fxLive(['progress', id, '-f']);
    await live.seen('{"step":1}');
    expect((await alice.getTask(id)).status).toBe('running');
    await alice.cancel(id);
    const r = await live.done;
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^#1 {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}\{"step":1\}\n$/);
    const kept = fx(['progress', id]);
    expect(kept).toEqual({ code: 0, stdout: r.stdout, stderr: '' });
  });
});
