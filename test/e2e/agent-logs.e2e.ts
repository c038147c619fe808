import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { Client } from '@fx/sdk';
import type { LogChunk } from '@fx/protocol';
import { EndpointProcess, FX_ROOT, ServerProcess, eventually, tempDir, type TempDir } from '@fx/testing';

/**
 * The endpoint's side of a task (issue 17, "Task history and logs"): a real fx-endpoint, whose log shows
 * only warnings, runs tasks; `fx logs <task> --agent` (and the SDK's `logs(id, { agent: true })`) show
 * the agent's own lines about each one (received, started on which worker, finished) interleaved with
 * what it printed, and without --agent nothing of them shows. The built bins, as people use them.
 */
const FX = join(FX_ROOT, 'apps/cli/bin/fx.js');
jest.setTimeout(180_000);

let server: ServerProcess;
let alice: Client;
let aliceToken: string;
let endpoint: EndpointProcess;
let home: TempDir;
let printer: string;
let square: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `fx` bin; `seen(text)` resolves once its stderr holds `text`, `done` when it exits. */
function fx(args: string[]): { seen: (text: RegExp) => Promise<void>; done: Promise<Run> } {
  const child = spawn(FX, args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, FX_HOME: home.path, FX_URL: server.url, FX_TOKEN: aliceToken },
    timeout: 120_000,
  });
  const out = { stdout: '', stderr: '' };
  const waiters: Array<{ text: RegExp; resolve: () => void }> = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out.stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    out.stderr += d;
    for (const w of waiters) if (w.text.test(out.stderr)) w.resolve();
  });
  const done = new Promise<Run>((settle) => child.on('close', (code) => settle({ code, ...out })));
  const seen = (text: RegExp) =>
    new Promise<void>((ok, fail) => {
      if (text.test(out.stderr)) return ok();
      waiters.push({ text, resolve: ok });
      void done.then((r) => fail(new Error(`fx exited (${r.code}) before printing ${String(text)}:\n${r.stdout}\n${r.stderr}`)));
    });
  return { seen, done };
}

beforeAll(async () => {
  server = await ServerProcess.start('embedded');
  const admin = new Client({ url: server.url, token: server.adminToken });
  aliceToken = (await admin.createToken((await admin.createUser({ name: 'alice' })).id, { name: 'cli' })).token;
  admin.close();
  alice = new Client({ url: server.url, token: aliceToken });
  // the agent's own log shows warnings only: its info lines about tasks must reach their streams anyway
  endpoint = await EndpointProcess.configure(server, 'agent-logs', { workers: 1, token: aliceToken, env: { FX_LOG_LEVEL: 'warn' } });
  endpoint.start();
  await eventually(async () => (await alice.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online').catch((e) => {
    throw new Error(`${(e as Error).message}\n${endpoint.log()}\n${server.log()}`);
  });
  home = await tempDir('fx-agent-logs-home');
  printer = await alice.registerShellFunction('echo out 1; sleep {hold}; echo out 2', { name: 'printer', failOnNonZeroExit: true });
  square = (await alice.createFunction({ name: 'square', runtime: 'js', source: '(x) => x * x' })).id;
}, 240_000);

afterAll(async () => {
  alice?.close();
  await endpoint?.stop();
  await server?.stop();
  await home?.remove();
});

/** The agent's lines in what `fx logs --agent` wrote to stderr, without their prefix and time. */
const agentLines = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('[agent] '))
    .map((l) => l.replace(/^\[agent\] \S+ /, ''));

describe('fx logs --agent', () => {
  it("shows the agent's lines about a finished task with what it printed, and nothing of them without --agent", async () => {
    const id = await alice.run(square, endpoint.endpointId, [7]);
    expect(await alice.getResult(id, { timeoutMs: 60_000 })).toBe(49);
    const r = await fx(['logs', id, '--agent']).done;
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const said = agentLines(r.stderr);
    expect(said[0]).toBe('INFO  received, queued');
    expect(said[1]).toMatch(/^INFO {2}started on worker w\d+-\d+$/);
    expect(said[2]).toMatch(/^INFO {2}finished: success in \d+ ms on worker w\d+-\d+$/);
    expect(said).toHaveLength(3);
    // every line is stamped with when the agent said it
    expect(r.stderr).toMatch(/^\[agent\] \d{4}-\d\d-\d\dT[\d:.]+Z INFO {2}received, queued\n/);

    expect(await fx(['logs', id]).done).toEqual({ code: 0, stdout: '', stderr: '' });

    // as JSON lines: chunks of stream `agent`, of this task and its attempt
    const json = await fx(['--json', 'logs', id, '--agent']).done;
    const chunks = json.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as LogChunk);
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.every((c) => c.taskId === id && c.attempt === 0 && c.stream === 'agent')).toBe(true);
    // the same from the SDK
    const sdk: LogChunk[] = [];
    for await (const c of alice.logs(id, { agent: true })) sdk.push(c);
    expect(sdk).toEqual(chunks);
    const plain: LogChunk[] = [];
    for await (const c of alice.logs(id)) plain.push(c);
    expect(plain).toEqual([]);
    // the agent's own log stayed at warnings: the lines went to the stream, not to endpoint.log
    expect(endpoint.log(Infinity)).not.toContain(id);

    // fx task: the attempt, and under it what it used (a js worker measures CPU time and peak memory)
    const task = await fx(['task', id]).done;
    expect(task.code).toBe(0);
    expect(task.stdout).toMatch(/\n {2}#1 success .*\n {5}used: wall (\d+ ms|[\d.]+ s), 1 core, 0 GPUs, CPU (\d+ ms|[\d.]+ s), peak memory [\d.]+ MiB\n/);
  });

  it('-f interleaves them with what a running task prints, in seq order, until it ends', async () => {
    const id = await alice.run(printer, endpoint.endpointId, [], { hold: 120 });
    const live = fx(['logs', id, '-f', '--agent']);
    await live.seen(/\[agent\] \S+ INFO {2}started as a shell process\n/);
    expect((await alice.getTask(id)).status).toBe('running');
    await alice.cancel(id);
    const r = await live.done;
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('out 1\n');
    expect(agentLines(r.stderr).slice(0, 2)).toEqual(['INFO  received, queued', 'INFO  started as a shell process']);

    const done = await alice.run(printer, endpoint.endpointId, [], { hold: 0 });
    const followed = await fx(['--json', 'logs', done, '-f', '--agent']).done;
    expect(followed.code).toBe(0);
    const chunks = followed.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as LogChunk);
    const seqs = chunks.map((c) => c.seq);
    expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    // line by line, as they came: the agent's (without their time and level) among the task's own
    const order = chunks.flatMap((c) =>
      c.text
        .split('\n')
        .filter(Boolean)
        .map((l) => (c.stream === 'agent' ? l.replace(/^\S+ INFO {2}/, '') : l)),
    );
    expect(order.slice(0, 4)).toEqual(['received, queued', 'started as a shell process', 'out 1', 'out 2']);
    expect(order.slice(4)).toEqual([expect.stringMatching(/^finished: success in \d+ ms$/)]);
  });
});
