import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import { Client, ObjectUploadError } from '@fx/sdk';
import { ServerProcess, tempDir, type TempDir } from '@fx/testing';

/**
 * `fx put`, `fx get`, `fx objects ls/show/rm` as people and scripts run them (issue 15): the built bin
 * as a child process with its own FX_HOME, against the built server; exit codes checked.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FX = join(root, 'apps/cli/bin/fx.js');
const MiB = 1024 * 1024;
/** Small, so that a put can be made to fail midway (and the last test lifts it). */
const QUOTA = 40 * MiB;
jest.setTimeout(180_000);

let server: ServerProcess;
let home: TempDir;
let files: TempDir;
let alice: Client;
let env: Record<string, string>;

interface Run {
  code: number | null;
  stdout: Buffer;
  out: string;
  stderr: string;
}

function fx(args: string[], input?: Buffer): Run {
  const r = spawnSync(FX, args, {
    timeout: 120_000,
    maxBuffer: 64 * MiB,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, FX_HOME: home.path, ...env },
    ...(input === undefined ? {} : { input }),
  });
  return { code: r.status, stdout: r.stdout, out: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

function fxJson<T = Record<string, unknown>>(args: string[], input?: Buffer): T {
  const r = fx(['--json', ...args], input);
  if (r.code !== 0) throw new Error(`fx --json ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.out}`);
  return JSON.parse(r.out) as T;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  server = await ServerProcess.start('embedded', { FX_OBJECT_QUOTA_BYTES: String(QUOTA) });
  const admin = new Client({ url: server.url, token: server.adminToken });
  const user = await admin.createUser({ name: 'alice' });
  const token = (await admin.createToken(user.id, { name: 'cli' })).token;
  admin.close();
  alice = new Client({ url: server.url, token });
  env = { FX_URL: server.url, FX_TOKEN: token };
  home = await tempDir('fx-objects-cli-home');
  files = await tempDir('fx-objects-cli-files');
});

afterAll(async () => {
  alice?.close();
  await server?.stop();
  await home?.remove();
  await files?.remove();
});

describe('fx put / get / objects', () => {
  it('puts a file and prints its id; gets it back to a file and to stdout, checksum equal', async () => {
    const data = randomBytes(3 * MiB + 7);
    const file = join(files.path, 'data.bin');
    await writeFile(file, data);
    const put = fx(['put', file, '--name', 'input/data.bin']);
    expect(put.stderr).toMatch(/^Stored 3\.0 MiB as object [0-9a-f-]{36} named "input\/data\.bin" \(sha256 [0-9a-f]{64}\)\.\n$/);
    expect(put.code).toBe(0);
    const id = put.out.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await alice.objects.info(id)).toMatchObject({ sha256: sha(data), size: data.length, name: 'input/data.bin' });

    const out = join(files.path, 'back.bin');
    const got = fx(['get', id, '-o', out]);
    expect(got.code).toBe(0);
    expect(got.stderr).toMatch(/Wrote 3\.0 MiB of object .* \(sha256 verified\)/);
    expect(sha(await readFile(out))).toBe(sha(data));
    expect((await readdir(files.path)).filter((f) => f.endsWith('.fx-part'))).toEqual([]);

    const byName = fx(['get', 'input/data.bin']);
    expect(byName.code).toBe(0);
    expect(sha(byName.stdout)).toBe(sha(data));
    expect(fxJson(['get', 'input/data.bin', '-o', out])).toMatchObject({ id, path: out, sha256: sha(data) });
  });

  it('puts stdin, with --json printing the object (its ref included) and --encoding json giving the value to tasks', () => {
    const info = fxJson<{ id: string; encoding: string; ref: { $fx: string } }>(
      ['put', '-', '--encoding', 'json', '--ttl', '3600'],
      Buffer.from('{"k": [1, 2]}'),
    );
    expect(info).toMatchObject({ encoding: 'json', expiresAt: expect.any(String), ref: { $fx: 'object', id: info.id } });
    expect(JSON.parse(fx(['get', info.id]).out)).toEqual({ k: [1, 2] });
  });

  it('lists with --prefix and --json, shows one, removes by name and by id', async () => {
    await alice.put(Buffer.from('a'), { name: 'logs/a.txt' });
    const b = await alice.put(Buffer.from('bb'), { name: 'logs/b.txt' });
    const ls = fx(['objects', 'ls', '--prefix', 'logs/']);
    expect(ls.code).toBe(0);
    const lines = ls.out.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+SIZE\s+ENCODING\s+CREATED\s+EXPIRES$/);
    expect(
      lines
        .slice(1)
        .map((l) => l.split(/\s+/)[1])
        .sort(),
    ).toEqual(['logs/a.txt', 'logs/b.txt']);
    expect(ls.stderr).toMatch(/^Using .* of .*\.$/m);
    const listed = fxJson<{ items: Array<{ name: string }> }>(['objects', 'ls', '--prefix', 'logs/']);
    expect(listed.items.map((o) => o.name).sort()).toEqual(['logs/a.txt', 'logs/b.txt']);
    expect(fx(['objects', 'show', 'logs/b.txt']).out).toMatch(new RegExp(`^id\\s+${b.id}$`, 'm'));

    const rm = fx(['objects', 'rm', 'logs/a.txt', b.id]);
    expect(rm.code).toBe(0);
    expect(rm.out).toMatch(/^Deleted object [0-9a-f-]{36} \(logs\/a\.txt\)\.\nDeleted object [0-9a-f-]{36}\.\n$/);
    expect(fxJson<{ items: unknown[] }>(['objects', 'ls', '--prefix', 'logs/']).items).toEqual([]);
  });

  it('resumes an upload with --upload-id: only the missing bytes are sent, and a file put resumes by running it again', async () => {
    const chunks = Array.from({ length: 4 }, () => randomBytes(MiB));
    const failing = (async function* () {
      yield* chunks.slice(0, 2);
      throw new Error('interrupted');
    })();
    const failed = (await alice.put(failing, { partBytes: MiB }).catch((e: unknown) => e)) as ObjectUploadError;
    expect(failed).toBeInstanceOf(ObjectUploadError);
    const whole = Buffer.concat(chunks);
    const resumed = fx(['put', '-', '--upload-id', failed.uploadId!], whole);
    expect(resumed.stderr).toMatch(/^Resuming upload .*: the server holds 2\.0 MiB already\./m);
    expect(resumed.code).toBe(0);
    expect(await alice.objects.info(resumed.out.trim())).toMatchObject({ sha256: sha(whole) });

    // a file's put leaves no state behind once it succeeded
    const file = join(files.path, 'again.bin');
    await writeFile(file, whole);
    expect(fx(['put', file]).code).toBe(0);
    const uploads = await readdir(join(home.path, 'uploads')).catch(() => []);
    expect(uploads).toEqual([]);
  });

  it('exits 1 for what is not there or not readable, 2 for usage errors', async () => {
    const missing = fx(['get', 'nothing/here.txt']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^fx: no object nothing\/here\.txt \(or it is not yours to see\)$/m);
    expect(fx(['objects', 'rm', '0f8fad5b-d9cb-469f-a165-70867728950e']).code).toBe(1);
    const noFile = fx(['put', join(files.path, 'absent.bin')]);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toMatch(/^fx: cannot read .*absent\.bin/);
    expect(fx(['put', '-', '--name', '../escape']).code).toBe(2);
    expect(fx(['get', 'bad name!']).code).toBe(2);
    expect(fx(['--json', 'get', 'input/data.bin']).code).toBe(2);
    expect(fx(['put', '-', '--encoding', 'yaml']).code).toBe(2);
    expect((await stat(home.path)).isDirectory()).toBe(true);
  });

  it('a file put refused midway (past the quota) says how to resume; run again once there is room, it sends only the rest', async () => {
    const data = randomBytes(48 * MiB);
    const file = join(files.path, 'large.bin');
    await writeFile(file, data);
    const refused = fx(['put', file]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^fx: put failed: .*run the same command again to send the rest\.$/m);
    const held = Number(/The server keeps ([\d.]+) MiB/.exec(refused.stderr)?.[1] ?? NaN);
    expect(held).toBeGreaterThan(0);

    server.env.FX_OBJECT_QUOTA_BYTES = '0';
    await server.restart();
    const again = fx(['put', file]);
    expect(again.stderr).toMatch(/^Resuming upload [0-9a-f-]{36}: the server holds [\d.]+ MiB already\.$/m);
    expect(again.code).toBe(0);
    expect(await alice.objects.info(again.out.trim())).toMatchObject({ size: data.length, sha256: sha(data) });
  });
});
