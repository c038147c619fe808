import { jest } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectOutput, exited, freePort, tempDir, type TempDir } from '@fx/testing';

/**
 * `npm start` as a newcomer meets it (issue 11 item 6, issue 10's low items): the all-in-one comes up,
 * prints the admin token on its first start only, and a second `npm start` on the same data directory
 * or the same port refuses with a sentence naming the running instance, before touching the data.
 */
jest.setTimeout(180_000);

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const START = join(root, 'scripts/start.mjs');

let data: TempDir;
let home: TempDir;
let port: number;
let first: ChildProcess;
const firstOut: string[] = [];

function start(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [START, '--no-build'], { env: { PATH: process.env.PATH, HOME: process.env.HOME, FX_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function until(out: string[], pattern: RegExp, child: ChildProcess, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pattern.test(out.join(''))) {
    if (child.exitCode !== null) throw new Error(`exited (${child.exitCode}) before ${pattern}:\n${out.join('').slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`no ${pattern} within ${ms} ms:\n${out.join('').slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function runToEnd(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const child = start(env);
  const out: string[] = [];
  collectOutput(child, out);
  const code = await exited(child, { timeoutMs: 90_000, killOnTimeout: true });
  return { code, out: out.join('') };
}

beforeAll(async () => {
  data = await tempDir('fx-first-start');
  home = await tempDir('fx-first-start-home');
  port = await freePort();
  first = start({ PORT: String(port), FX_DATA_DIR: data.path, FX_HOME: home.path });
  collectOutput(first, firstOut);
  await until(firstOut, /FX is running\./, first);
}, 120_000);

afterAll(async () => {
  if (first && first.exitCode === null) {
    first.kill('SIGINT');
    await exited(first, { timeoutMs: 60_000, killOnTimeout: true });
  }
  await data?.remove();
  await home?.remove();
});

it('prints the admin token on the first start, and its data directory is private', async () => {
  const token = (await readFile(join(data.path, 'admin.token'), 'utf8')).trim();
  expect(firstOut.join('')).toContain(token);
  expect(firstOut.join('')).toMatch(/shown on this first start only/);
  for (const name of await readdir(data.path)) {
    const mode = (await stat(join(data.path, name))).mode & 0o777;
    expect([name, mode]).toEqual([name, (await stat(join(data.path, name))).isDirectory() ? 0o700 : 0o600]);
  }
});

it('a second start on the same data directory refuses, naming the running instance, and leaves it running', async () => {
  const before = await readFile(join(data.path, 'admin.token'), 'utf8');
  const second = await runToEnd({ PORT: String(await freePort()), FX_DATA_DIR: data.path, FX_HOME: home.path });
  expect(second.code).not.toBe(0);
  expect(second.out).toMatch(new RegExp(`FX is already running on the data directory .*pid \\d+.*http://127\\.0\\.0\\.1:${port}`));
  expect(second.out).not.toMatch(/FX is running\./);
  expect(second.out).not.toMatch(/\n\s+at /); // a sentence, not a stack
  expect(await readFile(join(data.path, 'admin.token'), 'utf8')).toBe(before);
  expect((await fetch(`http://127.0.0.1:${port}/readyz`)).ok).toBe(true);
});

it('a second start on a busy port with another data directory says the port is taken', async () => {
  const other = await tempDir('fx-first-start-other');
  try {
    const second = await runToEnd({ PORT: String(port), FX_DATA_DIR: other.path, FX_HOME: join(other.path, 'home') });
    expect(second.code).not.toBe(0);
    expect(second.out).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: another program uses that port`));
    expect(second.out).not.toMatch(/FX is running\./);
  } finally {
    await other.remove();
  }
});

it('a later start of the same data directory does not print the admin token again', async () => {
  first.kill('SIGINT');
  await exited(first, { timeoutMs: 60_000, killOnTimeout: true });
  const token = (await readFile(join(data.path, 'admin.token'), 'utf8')).trim();
  const again = start({ PORT: String(port), FX_DATA_DIR: data.path, FX_HOME: home.path });
  const out: string[] = [];
  collectOutput(again, out);
  try {
    await until(out, /FX is running\./, again);
    expect(out.join('')).not.toContain(token);
    expect(out.join('')).toMatch(new RegExp(`admin token:\\s+in ${join(data.path, 'admin.token').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  } finally {
    again.kill('SIGINT');
    await exited(again, { timeoutMs: 60_000, killOnTimeout: true });
  }
});
