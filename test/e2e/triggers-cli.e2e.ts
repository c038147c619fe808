import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import { Client, type ObjectInfo, type TriggerInfo } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually, tempDir, type TempDir } from '@fx/testing';

/**
 * `fx triggers create/ls/show/rm` as people and scripts run them (issue 15): the built bin as a child
 * process with its own FX_HOME, against the built server and a real agent; a file put with `fx put`
 * under the prefix comes out under the output prefix. Exit codes checked.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FX = join(root, 'apps/cli/bin/fx.js');
const UNKNOWN = '0f8fad5b-d9cb-469f-a165-70867728950e';
jest.setTimeout(180_000);

let server: ServerProcess;
let endpoint: EndpointProcess;
let home: TempDir;
let files: TempDir;
let env: Record<string, string>;
let bobEnv: Record<string, string>;

interface Run {
  code: number | null;
  out: string;
  stderr: string;
}

function fx(args: string[], as: Record<string, string> = env): Run {
  const r = spawnSync(FX, args, { timeout: 120_000, env: { PATH: process.env.PATH, HOME: process.env.HOME, FX_HOME: home.path, ...as } });
  return { code: r.status, out: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

function fxJson<T>(args: string[], as: Record<string, string> = env): T {
  const r = fx(['--json', ...args], as);
  if (r.code !== 0) throw new Error(`fx --json ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.out}`);
  return JSON.parse(r.out) as T;
}

beforeAll(async () => {
  server = await ServerProcess.start('embedded');
  const admin = new Client({ url: server.url, token: server.adminToken });
  const tokens: string[] = [];
  for (const name of ['alice', 'bob']) tokens.push((await admin.createToken((await admin.createUser({ name })).id, { name: 'cli' })).token);
  admin.close();
  env = { FX_URL: server.url, FX_TOKEN: tokens[0]! };
  bobEnv = { FX_URL: server.url, FX_TOKEN: tokens[1]! };
  endpoint = await EndpointProcess.configure(server, 'cli-triggers', { token: tokens[0]! });
  endpoint.start();
  home = await tempDir('fx-triggers-cli-home');
  files = await tempDir('fx-triggers-cli-files');
  await eventually(async () => fxJson<{ state: string }>(['endpoints', 'show', 'cli-triggers']).state === 'online', 30_000, 'endpoint online');
});

afterAll(async () => {
  await endpoint?.stop();
  await server?.stop();
  await home?.remove();
  await files?.remove();
});

describe('fx triggers', () => {
  let trigger: TriggerInfo;

  it('creates a trigger; a file put under its prefix comes out under the output prefix, once', async () => {
    const module = join(files.path, 'count-lines.mjs');
    await writeFile(module, "export default (data) => ({ lines: data.toString('utf8').split('\\n').filter(Boolean).length });\n");
    expect(fx(['functions', 'register', module, '--name', 'count-lines']).code).toBe(0);

    const created = fx(['triggers', 'create', '--prefix', 'input/', '--function', 'count-lines', '--endpoint', 'cli-triggers', '--output-prefix', 'output/']);
    expect(created.code).toBe(0);
    const id = created.out.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.stderr).toMatch(/^Created trigger .*: objects you put under "input\/" run count-lines on cli-triggers, results stored under "output\/"\.$/m);
    trigger = fxJson<TriggerInfo>(['triggers', 'show', id]);
    expect(trigger).toMatchObject({ id, prefix: 'input/', outputPrefix: 'output/', fired: 0 });

    const file = join(files.path, 'reads.txt');
    await writeFile(file, 'a\nb\nc\n');
    expect(fx(['put', file, '--name', 'input/run-1/reads.txt']).code).toBe(0);
    expect(fx(['put', file, '--name', 'notes/reads.txt']).code).toBe(0);
    await eventually(async () => fxJson<{ items: ObjectInfo[] }>(['objects', 'ls', '--prefix', 'output/']).items.length === 1, 60_000, 'the output');
    const ls = fx(['objects', 'ls', '--prefix', 'output/']);
    expect(ls.out).toMatch(/\boutput\/run-1\/reads\.txt\b/);
    const get = fx(['get', 'output/run-1/reads.txt']);
    expect(get.code).toBe(0);
    expect(JSON.parse(get.out)).toEqual({ lines: 3 });
    expect(fxJson<TriggerInfo>(['triggers', 'show', id]).fired).toBe(1);
  });

  it('lists and shows it for people and for scripts; another user sees none of it', () => {
    const ls = fx(['triggers', 'ls']);
    expect(ls.code).toBe(0);
    const [header, row, ...rest] = ls.out.trim().split('\n');
    expect(header).toMatch(/^ID\s+PREFIX\s+OUTPUT PREFIX\s+FUNCTION\s+ENDPOINT\s+FIRED\s+CREATED$/);
    expect(row!.split(/\s+/).slice(0, 3)).toEqual([trigger.id, 'input/', 'output/']);
    expect(rest).toEqual([]);
    expect(fxJson<{ items: TriggerInfo[] }>(['triggers', 'ls']).items.map((t) => t.id)).toEqual([trigger.id]);
    const show = fx(['triggers', 'show', trigger.id]);
    expect(show.out).toMatch(/^prefix\s+input\/$/m);
    expect(show.out).toMatch(/^fired\s+1 task$/m);
    expect(show.out).toMatch(new RegExp(`^endpoint\\s+${endpoint.endpointId}$`, 'm'));

    expect(fxJson<{ items: TriggerInfo[] }>(['triggers', 'ls'], bobEnv).items).toEqual([]);
    const foreign = fx(['triggers', 'show', trigger.id], bobEnv);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toMatch(new RegExp(`^fx: no trigger ${trigger.id} \\(or it is not yours to see\\)$`, 'm'));
    expect(fx(['triggers', 'rm', trigger.id], bobEnv).code).toBe(1);
  });

  it('exits 1 with a sentence for an unknown id or a refused trigger, 2 for usage errors', () => {
    for (const args of [
      ['triggers', 'show', UNKNOWN],
      ['triggers', 'rm', UNKNOWN],
    ]) {
      const r = fx(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^fx: no trigger ${UNKNOWN} \\(or it is not yours to see\\)$`, 'm'));
    }
    const loop = fx(['triggers', 'create', '--prefix', 'data/', '--function', 'count-lines', '--endpoint', 'cli-triggers', '--output-prefix', 'data/out/']);
    expect(loop.code).toBe(1);
    expect(loop.stderr).toMatch(/would fire it again/);
    const noFunction = fx(['triggers', 'create', '--prefix', 'x/', '--function', 'nothing-here', '--endpoint', 'cli-triggers']);
    expect(noFunction.code).toBe(1);
    expect(noFunction.stderr).toMatch(/^fx: not found: .*nothing-here/m);

    expect(fx(['triggers', 'show', 'not-an-id']).code).toBe(2);
    expect(fx(['triggers', 'rm', 'not-an-id']).code).toBe(2);
    expect(fx(['triggers', 'create', '--prefix', 'input/', '--function', 'count-lines']).code).toBe(2);
    const badPrefix = fx(['triggers', 'create', '--prefix', 'in put/', '--function', 'count-lines', '--endpoint', 'cli-triggers']);
    expect(badPrefix.code).toBe(2);
    expect(badPrefix.stderr).toMatch(/^fx: --prefix in put\/: a prefix holds only/m);
    expect(fx(['triggers', 'create', '--prefix', 'x/', '--function', 'bad name!', '--endpoint', 'cli-triggers']).code).toBe(2);
    expect(fxJson<{ items: TriggerInfo[] }>(['triggers', 'ls']).items).toHaveLength(1);
  });

  it('rm stops it: a later put fires nothing, and the trigger is gone from ls', async () => {
    const rm = fx(['triggers', 'rm', trigger.id]);
    expect(rm.code).toBe(0);
    expect(rm.out.trim()).toBe(`Deleted trigger ${trigger.id}.`);
    expect(fx(['triggers', 'show', trigger.id]).code).toBe(1);
    const none = fx(['triggers', 'ls']);
    expect(none.out).toBe('');
    expect(none.stderr).toMatch(/^No triggers\./);

    // a live trigger on the same prefix witnesses the put: once it has fired, the deleted one has had its turn
    const witness = fxJson<TriggerInfo>([
      'triggers',
      'create',
      '--prefix',
      'input/',
      '--function',
      'count-lines',
      '--endpoint',
      'cli-triggers',
      '--output-prefix',
      'seen/',
    ]);
    const file = join(files.path, 'late.txt');
    await writeFile(file, 'late\n');
    expect(fx(['put', file, '--name', 'input/run-1/late.txt']).code).toBe(0);
    await eventually(async () => fxJson<TriggerInfo>(['triggers', 'show', witness.id]).fired === 1, 60_000, 'the witness fired');
    await eventually(async () => fxJson<{ items: ObjectInfo[] }>(['objects', 'ls', '--prefix', 'seen/']).items.length === 1, 60_000, "the witness's output");
    expect(fxJson<{ items: ObjectInfo[] }>(['objects', 'ls', '--prefix', 'output/']).items.map((o) => o.name)).toEqual(['output/run-1/reads.txt']);
    // two tasks in all: the first trigger's for reads.txt, the witness's for late.txt
    expect(fxJson<{ items: unknown[] }>(['tasks', '--function', 'count-lines']).items).toHaveLength(2);
    expect(fxJson<{ deleted: string[] }>(['triggers', 'rm', witness.id]).deleted).toEqual([witness.id]);
  });
});
