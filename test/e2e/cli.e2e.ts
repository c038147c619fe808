import { execFile, spawnSync } from 'node:child_process';
import { stat, writeFile } from 'node:fs/promises';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually, tempDir, type TempDir } from '@fx/testing';

/**
 * The `fx` command line as a person uses it (issue 11 item 8): the built bin as a child process, with
 * its own FX_HOME, against the built server on the embedded store and a real fx-endpoint agent. Every
 * command is run as people and as scripts (`--json`) would, and its exit code checked.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FX = join(root, 'apps/cli/bin/fx.js');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
jest.setTimeout(180_000);

let server: ServerProcess;
let endpoint: EndpointProcess;
let offline: EndpointProcess;
let home: TempDir;
let files: TempDir;
let alice: Client;
let aliceToken: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `fx` bin; never throws. */
function fx(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Run {
  const r = spawnSync(FX, args, {
    encoding: 'utf8',
    timeout: 120_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, FX_HOME: home.path, ...options.env },
    ...(options.input === undefined ? {} : { input: options.input }),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the built `fx` bin without blocking (for checks that may run side by side); never rejects. */
function fxAsync(args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(
      FX,
      args,
      { encoding: 'utf8', timeout: 120_000, env: { PATH: process.env.PATH, HOME: process.env.HOME, FX_HOME: home.path } },
      (error, stdout, stderr) => {
        done({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
      },
    );
  });
}

/** Runs `fx --json …`, expects exit 0 and one JSON document on stdout. */
function fxJson<T = Record<string, unknown>>(args: string[]): T {
  const r = fx(['--json', ...args]);
  if (r.code !== 0) throw new Error(`fx --json ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}

const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';

beforeAll(async () => {
  server = await ServerProcess.start('embedded', { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000', FX_SWEEP_INTERVAL_MS: '500' });
  const admin = new Client({ url: server.url, token: server.adminToken });
  const user = await admin.createUser({ name: 'alice' });
  aliceToken = (await admin.createToken(user.id, { name: 'cli' })).token;
  admin.close();
  alice = new Client({ url: server.url, token: aliceToken });
  endpoint = await EndpointProcess.configure(server, 'e2e', { workers: 2, token: aliceToken });
  offline = await EndpointProcess.configure(server, 'asleep', { token: aliceToken });
  endpoint.start();
  await eventually(async () => (await alice.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online').catch((e) => {
    throw new Error(`${(e as Error).message}\n${endpoint.log()}\n${server.log()}`);
  });
  home = await tempDir('fx-cli-home');
  files = await tempDir('fx-cli-files');
  await writeFile(join(files.path, 'token'), `${aliceToken}\n`);
  await writeFile(join(files.path, 'add.mjs'), 'export default function add(a, b) {\n  return a + b;\n}\n');
  await writeFile(join(files.path, 'boom.mjs'), 'export function boom(message) {\n  throw new TypeError(message);\n}\nexport const notAFunction = 1;\n');
  await writeFile(join(files.path, 'tasks.jsonl'), Array.from({ length: 50 }, (_, i) => JSON.stringify([i, 1])).join('\n') + '\n');
  await writeFile(join(files.path, 'bad.jsonl'), '[1, 2]\n{"a": 1}\n');
}, 240_000);

afterAll(async () => {
  alice?.close();
  await endpoint?.stop();
  await offline?.stop();
  await server?.stop();
  await home?.remove();
  await files?.remove();
});

describe('fx', () => {
  it('is linked at the repository root: npx fx --help', () => {
    const r = spawnSync('npx', ['--no-install', 'fx', '--help'], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: fx /);
    expect(r.stdout).toMatch(/Exit codes: 0 ok, 1 the task or request failed, 2 usage/);
  });

  it('login refuses a bad token and saves nothing, then saves a good one privately; whoami uses it', async () => {
    await writeFile(join(files.path, 'bad-token'), 'not-a-token\n');
    const refused = fx(['login', '--url', server.url, '--token-file', join(files.path, 'bad-token')]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refused this token.*nothing was saved/);
    await expect(stat(join(home.path, 'credentials.json'))).rejects.toThrow();

    const r = fx(['login', '--url', server.url, '--token-file', join(files.path, 'token')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Logged in to .* as alice; credentials saved in /);
    expect((await stat(join(home.path, 'credentials.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(home.path)).mode & 0o777).toBe(0o700);

    expect(fx(['whoami']).stdout).toMatch(/^alice, user [0-9a-f-]{36}, on http/);
    expect(fxJson(['whoami'])).toMatchObject({ url: server.url, user: { name: 'alice', admin: false } });
    // A token piped on stdin works too, and --json says where it went.
    const piped = fx(['--json', 'login', '--url', server.url], { input: aliceToken });
    expect(piped.code).toBe(0);
    expect(JSON.parse(piped.stdout)).toMatchObject({ user: { name: 'alice' }, credentialsFile: join(home.path, 'credentials.json') });
  });

  it('FX_TOKEN overrides the saved token; a refused token exits 1 with a sentence', () => {
    const r = fx(['whoami'], { env: { FX_TOKEN: 'bogus' } });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^fx: the server refused the token .*run "fx login" again/);
  });

  it('registers functions from a module (default or named export) and a shell template, lists and shows them', () => {
    const add = fx(['functions', 'register', join(files.path, 'add.mjs'), '--name', 'add']);
    expect(add.code).toBe(0);
    expect(add.stdout).toMatch(/^Registered js function "add": [0-9a-f-]{36}\n$/);
    expect(fxJson(['functions', 'register', join(files.path, 'boom.mjs'), '--export', 'boom', '--name', 'boom'])).toMatchObject({
      name: 'boom',
      runtime: 'js',
    });
    expect(fxJson(['functions', 'register', '--shell', 'echo {msg}', '--name', 'echo'])).toMatchObject({
      name: 'echo',
      runtime: 'shell',
      source: 'echo {msg}',
    });
    expect(fxJson(['functions', 'register', '--shell', 'sleep {s}', '--name', 'sleepy'])).toMatchObject({ runtime: 'shell' });

    const wrongExport = fx(['functions', 'register', join(files.path, 'boom.mjs'), '--name', 'x']);
    expect(wrongExport.code).toBe(2);
    expect(wrongExport.stderr).toMatch(/no default export that is a function; its function exports: boom/);

    const ls = fx(['functions', 'ls']);
    expect(ls.stdout).toMatch(/^NAME\s+ID\s+RUNTIME/);
    expect(ls.stdout).toMatch(/\nadd\s+[0-9a-f-]{36}\s+js/);
    expect(
      fxJson<{ items: Array<{ name: string }> }>(['functions'])
        .items.map((f) => f.name)
        .sort(),
    ).toEqual(['add', 'boom', 'echo', 'sleepy']);
    expect(fx(['functions', 'ls']).stderr).toBe('');
    // a list cut at --limit says so on stderr, with the table or the JSON; the whole list does not
    const cut = fx(['--json', 'functions', 'ls', '--limit', '2']);
    expect(cut.code).toBe(0);
    expect((JSON.parse(cut.stdout) as { items: unknown[] }).items).toHaveLength(2);
    expect(cut.stderr).toMatch(/only the first 2 functions are read; there are more: pass --limit to read more/);
    expect(fx(['functions', 'ls', '--limit', '4']).stderr).toBe('');
    const show = fx(['functions', 'show', 'add']);
    expect(show.stdout).toMatch(/runtime\s+js/);
    expect(show.stdout).toMatch(/return a \+ b/);
    expect(fxJson(['functions', 'show', 'echo'])).toMatchObject({ name: 'echo', source: 'echo {msg}' });
  });

  it('lists endpoints with their state and shows one with its queue', () => {
    const list = fx(['endpoints']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/\ne2e\s+[0-9a-f-]{36}\s+online\s+RUNNING/);
    expect(list.stdout).toMatch(/\nasleep\s+[0-9a-f-]{36}\s+offline/);
    expect(fxJson<{ items: unknown[] }>(['endpoints']).items).toHaveLength(2);
    const show = fx(['endpoints', 'show', 'e2e']);
    expect(show.stdout).toMatch(/state\s+online/);
    expect(show.stdout).toMatch(/queue\s+\d+ waiting, \d+ dispatched, \d+ running/);
    expect(fxJson(['endpoints', 'show', endpoint.endpointId])).toMatchObject({
      id: endpoint.endpointId,
      state: 'online',
      tasks: { waiting: expect.any(Number) },
    });
  });

  it('run prints the result as JSON; a failing function exits 1 with the remote error on stderr', () => {
    const r = fx(['run', 'add', '--endpoint', 'e2e', '--args', '[1, 2]']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('3\n');
    expect(fxJson(['run', 'echo', '--endpoint', endpoint.endpointId, '--kwargs', '{"msg": "hi there"}'])).toMatchObject({
      status: 'success',
      result: { stdout: 'hi there\n', returncode: 0 },
    });

    const failed = fx(['run', 'boom', '--endpoint', 'e2e', '--args', '["remote boom"]']);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe('');
    expect(failed.stderr).toMatch(/failed: TypeError: remote boom \[TASK_ERROR\]/);
    expect(failed.stderr).toMatch(/Remote stack:\n.*TypeError: remote boom/);
    const failedJson = fx(['--json', 'run', 'boom', '--endpoint', 'e2e', '--args', '["again"]']);
    expect(failedJson.code).toBe(1);
    expect(JSON.parse(failedJson.stdout)).toMatchObject({ status: 'failed', error: { name: 'TypeError', message: 'again' } });
  });

  it('run on an offline endpoint says the task will wait; --timeout stops waiting with exit 1', () => {
    const r = fx(['run', 'add', '--endpoint', 'asleep', '--args', '[1, 1]', '--timeout', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Endpoint "asleep" is offline: tasks sent to it will wait until it connects/);
    expect(r.stderr).toMatch(/did not finish within 1 s; it keeps running: "fx result [0-9a-f-]{36}" shows it later/);
  });

  let batchId = '';

  it('batch prints the batch id first and ends with a final progress line; watch re-attaches to it', () => {
    const r = fx(['batch', 'add', '--endpoint', 'e2e', '--args-file', join(files.path, 'tasks.jsonl')]);
    expect(r.code).toBe(0);
    batchId = r.stdout.trim();
    expect(batchId).toMatch(UUID);
    expect(r.stderr.split('\n')[0]).toBe(`Batch ${batchId}: submitting as the file is read; "fx watch ${batchId}" re-attaches.`);
    expect(lastLine(r.stderr)).toMatch(/^50\/50 done \(100%\), 0 failed, [\d.]+ tasks\/s, took \d+/);

    const watch = fx(['watch', batchId]);
    expect(watch.code).toBe(0);
    expect(watch.stdout).toBe('');
    expect(lastLine(watch.stderr)).toMatch(/^50\/50 done \(100%\), 0 failed/);
    expect(fxJson(['watch', batchId])).toMatchObject({ batchIds: [batchId], total: 50, done: 50, succeeded: 50, failed: 0, failures: [] });
  });

  it('batch --json prints a summary; a batch with failures exits 1 and names them', async () => {
    const ok = fxJson<{ batchIds: string[]; total: number; succeeded: number }>([
      'batch',
      'add',
      '--endpoint',
      'e2e',
      '--args-file',
      join(files.path, 'tasks.jsonl'),
      // the file streams through a window smaller than it
      '--window',
      '7',
    ]);
    expect(ok.batchIds).toHaveLength(1);
    expect(ok.batchIds[0]).toMatch(UUID);
    expect(ok).toMatchObject({ total: 50, succeeded: 50 });

    await writeFile(join(files.path, 'boom.jsonl'), '["one"]\n["two"]\n');
    const failed = fx(['batch', 'boom', '--endpoint', 'e2e', '--args-file', join(files.path, 'boom.jsonl')]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/2\/2 done \(100%\), 2 failed/);
    expect(failed.stderr).toMatch(/TypeError: one \[TASK_ERROR\]/);
    const json = fx(['--json', 'batch', 'boom', '--endpoint', 'e2e', '--args-file', join(files.path, 'boom.jsonl')]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ total: 2, failed: 2, succeeded: 0 });
  });

  it('tasks lists with filters, task shows the timeline, result prints the result or the error', () => {
    const table = fx(['tasks', '--limit', '5']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+STATUS\s+FUNCTION\s+ENDPOINT\s+ATTEMPT\s+RECEIVED/);
    expect(table.stdout.trim().split('\n')).toHaveLength(6);
    expect(table.stderr).toMatch(/the newest 5 tasks that match; there are more: pass --limit/);
    expect(table.stdout).toMatch(/\s(add|boom)\s+e2e\s/); // names, not ids

    const ofBatch = fxJson<{ items: Array<{ batchId: string; status: string }> }>(['tasks', '--batch', batchId, '--limit', '100']);
    expect(ofBatch.items).toHaveLength(50);
    expect(fx(['--json', 'tasks', '--batch', batchId, '--limit', '100']).stderr).not.toMatch(/there are more/);
    const failed = fxJson<{ items: Array<{ id: string; status: string; errorMessage: string }> }>([
      'tasks',
      '--status',
      'failed',
      '--function',
      'boom',
      '--since',
      '10m',
    ]);
    expect(failed.items.length).toBeGreaterThanOrEqual(4);
    expect(failed.items.every((t) => t.status === 'failed')).toBe(true);
    expect(fxJson<{ items: unknown[] }>(['tasks', '--since', '2000-01-01T00:00:00Z', '--endpoint', 'e2e', '--limit', '2']).items).toHaveLength(2);

    const done = ofBatch.items[0] as unknown as { id: string };
    const task = fx(['task', done.id]);
    expect(task.code).toBe(0);
    expect(task.stdout).toMatch(/status\s+success/);
    expect(task.stdout).toMatch(/function\s+add \(/);
    expect(task.stdout).toMatch(/received\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z/);
    expect(task.stdout).toMatch(/completed\s+\d{4}-\d{2}-\d{2}/);
    expect(task.stdout).toMatch(/attempt\s+0/);
    expect(fxJson(['task', done.id])).toMatchObject({ id: done.id, batchId, status: 'success' });

    const result = fx(['result', done.id]);
    expect(result.code).toBe(0);
    expect(Number(result.stdout)).toBeGreaterThanOrEqual(1);
    expect(fxJson(['result', done.id])).toMatchObject({ taskId: done.id, status: 'success' });
    const error = fx(['result', failed.items[0]!.id]);
    expect(error.code).toBe(1);
    expect(error.stdout).toBe('');
    expect(error.stderr).toMatch(/failed: TypeError: /);
  });

  it('cancel stops a task, or every unfinished task of a batch', async () => {
    // Submitted first, while the SDK's pooled connection is fresh: the fx runs below block this event loop.
    const sleepy = (await alice.listFunctions()).find((f) => f.name === 'sleepy')!.id;
    const taskId = await alice.run(sleepy, offline.endpointId, [], { s: 30 });
    let batch = '';
    await alice.runBatch(
      offline.endpointId,
      Array.from({ length: 5 }, () => ({ functionId: sleepy, kwargs: { s: 30 } })),
      { onAccepted: (a) => (batch = a.batchId) },
    );
    const one = fx(['cancel', taskId]);
    expect(one.code).toBe(0);
    expect(one.stdout).toBe(`Cancelled task ${taskId}.\n`);
    expect(fxJson(['cancel', taskId])).toMatchObject({ kind: 'task', taskId, cancelled: false, status: 'cancelled' });
    expect(fx(['result', taskId])).toMatchObject({ code: 1, stderr: expect.stringMatching(/was cancelled/) });

    expect(fxJson(['cancel', batch])).toEqual({ kind: 'batch', batchId: batch, unfinished: 5, cancelled: 5 });
    expect(fx(['cancel', batch]).stdout).toMatch(/cancelled 0 of 0 unfinished tasks/);
  });

  it('says so, with exit 1, for what does not exist; and exits 2 on usage errors', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const notFound = [
      ['task', missing],
      ['result', missing],
      ['cancel', missing],
      ['watch', missing],
      ['functions', 'show', 'nope'],
      ['run', 'add', '--endpoint', 'nowhere'],
    ];
    for (const [i, r] of (await Promise.all(notFound.map((args) => fxAsync(args)))).entries()) {
      expect({ args: notFound[i], code: r.code }).toEqual({ args: notFound[i], code: 1 });
      expect(r.stderr).toMatch(/^fx: (not found|no |no task or batch)/);
      expect(r.stdout).toBe('');
    }
    const usage = [
      ['run', 'add'],
      ['task', 'not-an-id'],
      ['frobnicate'],
      ['run', 'add', '--endpoint', 'e2e', '--args', '{"a": 1}'],
      ['tasks', '--since', 'yesterday'],
      ['functions', 'register', '--name', 'x'],
    ];
    for (const [i, r] of (await Promise.all(usage.map((args) => fxAsync(args)))).entries()) {
      expect({ args: usage[i], code: r.code }).toEqual({ args: usage[i], code: 2 });
    }
    const bad = fx(['batch', 'add', '--endpoint', 'e2e', '--args-file', join(files.path, 'bad.jsonl')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad\.jsonl:2: expected a JSON array of arguments/);
    // the whole file is checked before anything is submitted: no batch was started
    expect(bad.stderr).not.toMatch(/^Batch /m);
    expect(bad.stdout).toBe('');
  });

  it('functions rm deletes by name', () => {
    const rm = fxJson<{ id: string; deleted: boolean }>(['functions', 'rm', 'echo']);
    expect(rm).toMatchObject({ id: expect.stringMatching(UUID), deleted: true });
    expect(fx(['functions', 'show', 'echo']).code).toBe(1);
  });

  it('runs a function by name on an endpoint by name; another registration under the name is its next version', async () => {
    const v1 = fxJson<{ id: string; version: number }>(['functions', 'show', 'add']);
    expect(fx(['run', 'add', '--endpoint', 'e2e', '--args', '[2, 3]'])).toMatchObject({ code: 0, stdout: '5\n' });
    // The same module again: the same function, not a new one.
    expect(fx(['functions', 'register', join(files.path, 'add.mjs'), '--name', 'add']).stdout).toBe(`Registered js function "add": ${v1.id}\n`);

    await writeFile(join(files.path, 'add2.mjs'), 'export default function add(a, b) {\n  return a + b + 100;\n}\n');
    const v2 = fx(['functions', 'register', join(files.path, 'add2.mjs'), '--name', 'add']);
    expect(v2.code).toBe(0);
    expect(v2.stdout).toMatch(/^Registered js function "add" \(version 2\): [0-9a-f-]{36}\n$/);
    expect(fx(['run', 'add', '--endpoint', 'e2e', '--args', '[2, 3]']).stdout).toBe('105\n');
    expect(fx(['run', 'add@1', '--endpoint', 'e2e', '--args', '[2, 3]']).stdout).toBe('5\n');
    expect(fx(['run', `alice/add@${v1.version}`, '--endpoint', 'e2e', '--args', '[1, 1]']).stdout).toBe('2\n');

    expect(fxJson<{ items: Array<{ version: number }> }>(['functions', 'versions', 'add']).items.map((f) => f.version)).toEqual([2, 1]);
    expect(fx(['functions', 'ls']).stdout.match(/\nadd\s/g)).toHaveLength(1);
    expect(fx(['functions', 'ls', '--versions']).stdout.match(/\nadd\s/g)).toHaveLength(2);
    // The tasks of each version are told apart.
    const ofV1 = fxJson<{ items: Array<{ functionId: string }> }>(['tasks', '--function', 'add@1', '--limit', '1000']).items;
    expect(ofV1.length).toBeGreaterThan(0);
    expect(ofV1.every((t) => t.functionId === v1.id)).toBe(true);
    expect(fx(['run', 'add@x', '--endpoint', 'e2e']).code).toBe(2);
  });

  it('registers a Python file with --entrypoint and runs it: the result on stdout, what it printed on stderr', async () => {
    await writeFile(join(files.path, 'analyze.py'), 'import statistics\n\ndef main(xs):\n    print(f"{len(xs)} values")\n    return statistics.mean(xs)\n');
    const registered = fx(['functions', 'register', join(files.path, 'analyze.py'), '--entrypoint', 'main', '--name', 'analyze']);
    expect(registered.code).toBe(0);
    expect(registered.stdout).toMatch(/^Registered python function "analyze": [0-9a-f-]{36}\n$/);
    expect(fx(['functions', 'show', 'analyze']).stdout).toMatch(/runtime\s+python\nentrypoint\s+main\n/);
    const run = fx(['run', 'analyze', '--endpoint', 'e2e', '--args', '[[1, 2, 3, 4]]']);
    expect(run).toMatchObject({ code: 0, stdout: '2.5\n', stderr: '--- task stdout ---\n4 values\n' });
    expect(fxJson(['run', 'analyze', '--endpoint', 'e2e', '--args', '[[1]]'])).toMatchObject({ result: 1, output: { stdout: '1 values\n' } });
    const failed = fx(['run', 'analyze', '--endpoint', 'e2e', '--args', '[[]]']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/failed: statistics\.StatisticsError: mean requires at least one data point \[TASK_ERROR\]/);
    expect(failed.stderr).toMatch(/Remote stack:\nTraceback \(most recent call last\):\n {2}File "fx-function-[0-9a-f]{12}\.py", line 5, in main/);

    expect(fx(['functions', 'register', join(files.path, 'analyze.py'), '--name', 'x'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/analyze\.py is Python: name the function to call with --entrypoint/),
    });
    expect(fx(['functions', 'register', join(files.path, 'add.mjs'), '--entrypoint', 'main', '--name', 'x']).code).toBe(2);
    expect(fxJson(['functions', 'register', '--shell', 'exit {code}', '--fail-on-non-zero-exit', '--name', 'strict'])).toMatchObject({
      failOnNonZeroExit: true,
    });
    expect(fx(['run', 'strict', '--endpoint', 'e2e', '--kwargs', '{"code": 3}'])).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/\[NON_ZERO_EXIT\]/),
    });
  });

  it("prints other users' text (errors, descriptions, sources, results) with its control characters escaped", async () => {
    // an OSC 52 clipboard write, a line erase and return, a one-byte CSI, DEL, a bidi override
    const evil = 'x\x1b]52;c;AAAA\x07 \x1b[2K\rforged \u009b2K \x7f \u202egnp.exe';
    // raw control bytes but tab and newline, and the bidi controls
    const raw = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
    const registered = fx(['functions', 'register', '--shell', `echo {msg} # ${evil}`, '--name', 'evil', '--description', evil]);
    expect(registered.code).toBe(0);
    const runs = [
      fx(['functions', 'show', 'evil']),
      fx(['run', 'evil', '--endpoint', 'e2e', '--kwargs', JSON.stringify({ msg: evil })]),
      fx(['--json', 'run', 'evil', '--endpoint', 'e2e', '--kwargs', JSON.stringify({ msg: evil })]),
      fx(['run', 'boom', '--endpoint', 'e2e', '--args', JSON.stringify([evil])]),
    ];
    const failed = fxJson<{ items: Array<{ id: string }> }>(['tasks', '--status', 'failed', '--function', 'boom', '--limit', '1']).items[0]!.id;
    runs.push(fx(['task', failed]), fx(['tasks', '--limit', '3']), fx(['result', failed]), fx(['--json', 'task', failed]));
    for (const r of runs) {
      expect(r.stdout + r.stderr).toMatch(/\\u001b\]52;c;AAAA|\\u001b\[2K|\\u009b2K/);
      expect(r.stdout).not.toMatch(raw);
      expect(r.stderr).not.toMatch(raw);
    }
    expect(runs[0]!.stdout).toContain('description  x\\u001b]52;c;AAAA\\u0007 \\u001b[2K\\u000dforged \\u009b2K \\u007f \\u202egnp.exe\n');
    expect(runs[3]!.stderr).toContain('TypeError: x\\u001b]52;c;AAAA\\u0007');
    // JSON stays JSON, the text in it unchanged
    expect(JSON.parse(runs[2]!.stdout)).toMatchObject({ status: 'success', result: { stdout: `${evil}\n` } });
    expect(JSON.parse(runs.at(-1)!.stdout)).toMatchObject({ error: { message: evil } });
  });

  it('fx-endpoint configure: a name alice already uses is refused with a sentence; --force replaces the endpoint its config registered', async () => {
    const agent = join(root, 'apps/endpoint/dist/cli/index.js');
    const agentHome = await tempDir('fx-e2e-agent-home');
    const configure = (home: string, ...extra: string[]) =>
      spawnSync(process.execPath, [agent, 'configure', 'twice', '--url', server.url, '--token-file', join(files.path, 'token'), ...extra], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, HOME: process.env.HOME, FX_HOME: home },
      });
    try {
      expect(configure(agentHome.path).status).toBe(0);
      const first = (await alice.getEndpoint('twice')).id;
      const elsewhere = await tempDir('fx-e2e-agent-home2');
      const refused = configure(elsewhere.path);
      await elsewhere.remove();
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/you already have an endpoint named "twice"/);
      expect(configure(agentHome.path, '--force').status).toBe(0);
      const second = (await alice.getEndpoint('twice')).id;
      expect(second).not.toBe(first);
      expect((await alice.listEndpoints()).filter((e) => e.name === 'twice').map((e) => e.id)).toEqual([second]);
    } finally {
      await agentHome.remove();
    }
  });
});
