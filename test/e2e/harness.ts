import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import {
  cleanupRedisPrefix,
  createTestDatabase,
  randomPrefix,
  tempDir,
  testRedisUrl,
  collectOutput as collect,
  exited,
  freePort,
  type TempDir,
  type TestDatabase,
} from '@fx/testing';

/**
 * Whole-system fixtures: the built server (apps/server/dist) and the built `fx-endpoint` CLI run as
 * real processes, exactly as users run them. `npm test` builds them first.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SERVER_MAIN = join(root, 'apps/server/dist/main.js');
const ENDPOINT_CLI = join(root, 'apps/endpoint/dist/cli/index.js');

export type Backend = 'postgres+redis' | 'embedded';

/** A server process on a fixed port (so it can be restarted in place) and its backend. */
export class ServerProcess {
  child?: ChildProcess;
  readonly output: string[] = [];
  adminToken = '';
  private constructor(
    readonly backend: Backend,
    readonly url: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly dataDir: TempDir,
    private readonly db?: TestDatabase,
    readonly redisPrefix?: string,
  ) {}

  static async start(backend: Backend, extraEnv: Record<string, string> = {}): Promise<ServerProcess> {
    const port = await freePort();
    const dataDir = await tempDir('fx-e2e-server');
    const db = backend === 'postgres+redis' ? await createTestDatabase() : undefined;
    const prefix = backend === 'postgres+redis' ? randomPrefix() : undefined;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOST: '127.0.0.1',
      PORT: String(port),
      FX_DATA_DIR: dataDir.path,
      FX_LOG_LEVEL: 'warn',
      ...(db ? { DATABASE_URL: db.url, REDIS_URL: testRedisUrl(), FX_REDIS_PREFIX: prefix } : {}),
      ...extraEnv,
    };
    const server = new ServerProcess(backend, `http://127.0.0.1:${port}`, env, dataDir, db, prefix);
    await server.boot();
    server.adminToken = (await readFile(join(dataDir.path, 'admin.token'), 'utf8')).trim();
    return server;
  }

  async boot(): Promise<void> {
    const child = spawn(process.execPath, [SERVER_MAIN], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    collect(child, this.output);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}):\n${this.log()}`);
      try {
        if ((await fetch(`${this.url}/readyz`)).ok) return;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) throw new Error(`server not ready within 60 s:\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  log(): string {
    return this.output.join('').slice(-8000);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.child) return;
    this.child.kill(signal);
    await exited(this.child);
  }

  async restart(): Promise<void> {
    await this.kill('SIGKILL');
    await this.boot();
  }

  async stop(): Promise<void> {
    await this.kill('SIGTERM').catch(() => this.kill('SIGKILL'));
    if (this.db) await this.db.drop();
    if (this.redisPrefix) await cleanupRedisPrefix(testRedisUrl(), this.redisPrefix);
    await this.dataDir.remove();
  }
}

/** An `fx-endpoint` home with one configured endpoint, and its agent process when started. */
export class EndpointProcess {
  child?: ChildProcess;
  readonly output: string[] = [];
  endpointId = '';
  private constructor(
    readonly name: string,
    readonly home: TempDir,
  ) {}

  get env(): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH, HOME: process.env.HOME, FX_HOME: this.home.path };
  }

  static async configure(server: ServerProcess, name: string, opts: { workers?: number; token?: string } = {}): Promise<EndpointProcess> {
    const ep = new EndpointProcess(name, await tempDir('fx-e2e-home'));
    const args = ['configure', name, '--url', server.url, '--token', opts.token ?? server.adminToken];
    if (opts.workers) args.push('--workers', String(opts.workers));
    const r = ep.cli(args);
    if (r.status !== 0) throw new Error(`configure failed (${r.status}): ${r.stderr}${r.stdout}`);
    const config = await readFile(join(ep.home.path, 'endpoints', name, 'config.yaml'), 'utf8');
    ep.endpointId = /endpointId:\s*"?([0-9a-f-]{36})/.exec(config)![1]!;
    return ep;
  }

  cli(args: string[]) {
    return spawnSync(process.execPath, [ENDPOINT_CLI, ...args], { env: this.env, encoding: 'utf8', timeout: 60_000 });
  }

  /** Runs `fx-endpoint start <name>` in the foreground, as a child we can signal. */
  start(): void {
    const child = spawn(process.execPath, [ENDPOINT_CLI, 'start', this.name], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    collect(child, this.output);
  }

  log(): string {
    return this.output.join('').slice(-8000);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null) return this.child?.exitCode ?? null;
    this.child.kill(signal);
    return exited(this.child, 60_000);
  }

  async stop(): Promise<void> {
    await this.kill('SIGTERM').catch(() => this.kill('SIGKILL'));
    await this.home.remove();
  }
}

/** Waits for a condition a few times a second. */
export async function eventually<T>(fn: () => Promise<T | undefined | false | null>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
