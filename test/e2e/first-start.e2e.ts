import { jest } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@fx/sdk';
import { collectOutput, exited, freePort, tempDir, type TempDir } from '@fx/testing';

/**
 * `npm start` as a newcomer meets it (issue 11 item 6, issue 10's low items): the all-in-one comes up,
 * prints the admin token on its first start only, and a second `npm start` on the same data directory
 * or the same port refuses with a sentence naming the running instance, before touching the data.
 * One log vocabulary (issue 11 item 4): it passes one FX_LOG_LEVEL to the server and the agent, and both
 * take `info`; both write pino records (JSON off a terminal, no colour) with the ids that apply; a task's
 * import() puts no ExperimentalWarning in the agent's log; stopping on purpose warns of nothing.
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
  return spawn(process.execPath, [START, '--no-build'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, FX_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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

/** The JSON records one child wrote, from start.mjs's `[tag] line` output. */
function records(out: string, tag: 'server' | 'local'): Array<Record<string, unknown>> {
  return out
    .split('\n')
    .filter((l) => l.startsWith(`[${tag}] {`))
    .map((l) => JSON.parse(l.slice(tag.length + 3)) as Record<string, unknown>);
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

it('with FX_LOG_LEVEL=info the server and the agent both run, log JSON records with their ids, and a stop is no warning', async () => {
  const logs = await tempDir('fx-first-start-logs');
  const child = start({ PORT: String(await freePort()), FX_DATA_DIR: logs.path, FX_HOME: join(logs.path, 'home'), FX_LOG_LEVEL: 'info' });
  const out: string[] = [];
  collectOutput(child, out);
  try {
    await until(out, /FX is running\./, child);
    const text = () => out.join('');
    const url = /URL:\s+(\S+)/.exec(text())![1]!;
    const endpointId = /local endpoint: ([0-9a-f-]{36})/.exec(text())![1]!;
    await until(out, /\[server\] .*"msg":"agent connected"/, child);
    const connected = records(text(), 'server').find((r) => r.msg === 'agent connected')!;
    expect(connected).toMatchObject({ level: 'info', context: 'EndpointChannel', endpointId });
    expect(connected.connId).toMatch(/^conn-/);
    expect(typeof connected.time).toBe('string');
    // the agent logs its side once the server's welcome reaches it, which may be after the server's line
    await until(out, /\[local\] \{.*"msg":"connected to/, child);
    expect(records(text(), 'local').find((r) => String(r.msg).startsWith('connected to'))).toMatchObject({ level: 'info', endpointId });

    // A js task that imports a module: the worker's import() is the experimental vm loader.
    const token = (await readFile(join(logs.path, 'local-user.token'), 'utf8')).trim();
    const client = new Client({ url, token });
    try {
      const fn = await client.registerFunction(async () => (await import('node:os')).platform().length > 0, { name: 'imports' });
      expect(await client.getResult(await client.run(fn, endpointId, []), { timeoutMs: 60_000 })).toBe(true);
    } finally {
      client.close();
    }

    child.kill('SIGINT');
    expect(await exited(child, { timeoutMs: 60_000 })).toBe(0);
    // from the stop on (a machine without bubblewrap warns at start, rightly)
    const local = records(text(), 'local');
    const stopping = local.slice(local.findIndex((r) => String(r.msg).startsWith('SIGTERM: draining')));
    expect(stopping[0]).toMatchObject({ level: 'info', endpointId });
    expect(stopping.find((r) => String(r.msg).startsWith('disconnected from the server'))).toMatchObject({ level: 'info' });
    expect(stopping.find((r) => String(r.msg).endsWith('stopped'))).toMatchObject({ level: 'info', endpointId });
    expect(stopping.filter((r) => r.level === 'warn' || r.level === 'error')).toEqual([]);
    expect(text()).not.toMatch(/ExperimentalWarning/);
    expect(text()).not.toMatch(/\u001b\[/);
    // every line either child wrote is a record, but the server's two for the operator (its URL, the admin token)
    const childLines = text()
      .split('\n')
      .filter((l) => /^\[(server|local)\] /.test(l));
    const stray = childLines.filter((l) => !/^\[(server|local)\] \{/.test(l) && !/^\[server\] (FX server listening on|admin token \(also in)/.test(l));
    expect(stray).toEqual([]);
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGINT');
      await exited(child, { timeoutMs: 60_000, killOnTimeout: true });
    }
    await logs.remove();
  }
});

it('the old server level "log" is refused with a sentence naming the allowed values', async () => {
  const logs = await tempDir('fx-first-start-logs');
  const { code, out } = await runToEnd({ PORT: String(await freePort()), FX_DATA_DIR: logs.path, FX_HOME: join(logs.path, 'home'), FX_LOG_LEVEL: 'log' });
  await logs.remove();
  expect(code).not.toBe(0);
  expect(out).toContain('FX_LOG_LEVEL: must be one of debug, info, warn, error ("log" is now called "info"), not "log"');
  expect(out).not.toMatch(/FX is running\./);
});
