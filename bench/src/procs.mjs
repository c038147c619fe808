// Real FX processes for the benchmark: the built server (apps/server/dist/main.js) and the built
// `fx-endpoint` CLI, started the way users start them (the same as test/e2e/harness.ts does).
import { spawn, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectOutput, exited as exitedOrThrow, freePort, cleanupRedisPrefix, createTestDatabase, randomPrefix, tempDir, testRedisUrl } from '@fx/testing';

const exited = (child, timeoutMs = 30_000) => exitedOrThrow(child, { timeoutMs, killOnTimeout: true });

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SERVER_MAIN = join(root, 'apps/server/dist/main.js');
const ENDPOINT_CLI = join(root, 'apps/endpoint/dist/cli/index.js');

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Resident memory of a process in bytes, from /proc (Linux). */
export function rssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Everything started and not yet stopped, so that an interrupted run still cleans up (stopAll). */
const live = new Set();
export async function stopAll() {
  for (const x of [...live].reverse()) await x.stop().catch(() => undefined);
}
export function track(x) {
  live.add(x);
  return x;
}

export class FxServer {
  output = [];
  static async start(backend, { nodeArgs = [], env: extra = {} } = {}) {
    const s = track(new FxServer());
    s.backend = backend;
    s.port = await freePort();
    s.url = `http://127.0.0.1:${s.port}`;
    s.dataDir = await tempDir('fx-bench-server');
    if (backend === 'postgres+redis') {
      s.db = await createTestDatabase();
      s.prefix = randomPrefix();
    }
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOST: '127.0.0.1',
      PORT: String(s.port),
      FX_DATA_DIR: s.dataDir.path,
      FX_LOG_LEVEL: 'warn',
      ...(s.db ? { DATABASE_URL: s.db.url, REDIS_URL: testRedisUrl(), FX_REDIS_PREFIX: s.prefix } : {}),
      ...extra,
    };
    // FX_BENCH_SERVER_NODE_ARGS: node flags for the server (e.g. --cpu-prof), for profiling
    const serverArgs = [...nodeArgs, ...(process.env.FX_BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? [])];
    s.child = spawn(process.execPath, [...serverArgs, SERVER_MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    collectOutput(s.child, s.output, 500);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (s.child.exitCode !== null) throw new Error(`server exited (${s.child.exitCode}):\n${s.log()}`);
      try {
        if ((await fetch(`${s.url}/readyz`)).ok) break;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) throw new Error(`server not ready within 60 s:\n${s.log()}`);
      await new Promise((r) => setTimeout(r, 150));
    }
    s.adminToken = (await readFile(join(s.dataDir.path, 'admin.token'), 'utf8')).trim();
    return s;
  }

  get pid() {
    return this.child.pid;
  }

  log() {
    return this.output.join('').slice(-4000);
  }

  async stop() {
    live.delete(this);
    if (this.child && this.child.exitCode === null) {
      this.child.kill('SIGTERM');
      await exited(this.child);
    }
    if (this.db) await this.db.drop().catch(() => undefined);
    if (this.prefix) await cleanupRedisPrefix(testRedisUrl(), this.prefix).catch(() => undefined);
    await this.dataDir.remove().catch(() => undefined);
  }
}

export class FxEndpoint {
  output = [];
  static async configure(server, name, { workers } = {}) {
    const ep = track(new FxEndpoint());
    ep.name = name;
    ep.home = await tempDir('fx-bench-home');
    ep.env = { PATH: process.env.PATH, HOME: process.env.HOME, FX_HOME: ep.home.path };
    const args = ['configure', name, '--url', server.url, '--token', server.adminToken];
    if (workers) args.push('--workers', String(workers));
    const r = spawnSync(process.execPath, [ENDPOINT_CLI, ...args], { env: ep.env, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`fx-endpoint configure failed (${r.status}): ${r.stderr}${r.stdout}`);
    const config = await readFile(join(ep.home.path, 'endpoints', name, 'config.yaml'), 'utf8');
    ep.endpointId = /endpointId:\s*"?([0-9a-f-]{36})/.exec(config)[1];
    return ep;
  }

  start() {
    // FX_BENCH_AGENT_NODE_ARGS: node flags for the agent (e.g. --cpu-prof), for profiling
    const nodeArgs = process.env.FX_BENCH_AGENT_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    this.child = spawn(process.execPath, [...nodeArgs, ENDPOINT_CLI, 'start', this.name], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    collectOutput(this.child, this.output, 500);
  }

  get pid() {
    return this.child?.pid;
  }

  async stop() {
    live.delete(this);
    if (this.child && this.child.exitCode === null) {
      this.child.kill('SIGTERM');
      await exited(this.child, 60_000);
    }
    await this.home.remove().catch(() => undefined);
  }
}

export { randomPrefix, testRedisUrl, cleanupRedisPrefix };
