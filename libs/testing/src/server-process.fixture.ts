import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SERVER_MAIN } from './fx-paths.fixture.js';
import { ChildFixture, exited, freePort } from './process.fixture.js';
import { cleanupRedisPrefix, createTestDatabase, randomPrefix, testRedisUrl, type TestDatabase } from './real-services.fixture.js';
import { tempDir, type TempDir } from './temp-dir.fixture.js';
import { sleep } from './wait.fixture.js';

/** The server's store: a fresh PostgreSQL database + Redis prefix, or FX's own (no DATABASE_URL, no REDIS_URL). */
export type Backend = 'postgres+redis' | 'embedded';

export interface ServerProcessOptions {
  /** Names the server in log() (`--- server <name> ---`), for suites that run several. */
  name?: string;
  /**
   * A database and Redis prefix the server shares with others (replicas of one deployment) instead of
   * fresh ones of its own; stop() leaves them for their owner to remove. Only with 'postgres+redis'.
   */
  shared?: { databaseUrl: string; redisPrefix: string };
  /** Node flags for the server process (`--cpu-prof`, `--inspect`). */
  nodeArgs?: string[];
  /** Output chunks kept for log(). @default 2000 */
  keepOutput?: number;
  /** How long a boot may take to answer /readyz. @default 60000 */
  readyTimeoutMs?: number;
  /** Prefix of the temp data directory's name. @default 'fx-e2e-server' */
  dirLabel?: string;
}

/** What start() hands the constructor. */
export interface ServerInit {
  backend: Backend;
  port: number;
  env: NodeJS.ProcessEnv;
  dataDir: TempDir;
  db?: TestDatabase;
  redisPrefix?: string;
  ownsPrefix: boolean;
  options: ServerProcessOptions;
}

/**
 * The built server (apps/server/dist/main.js) as a child process, exactly as users run it, on a fixed
 * port so that it can be killed and booted again in place. Its data dir, and the database and Redis
 * prefix it owns, are removed by stop().
 */
export class ServerProcess extends ChildFixture {
  adminToken = '';
  readonly backend: Backend;
  readonly port: number;
  /** The environment every boot gets (nothing inherited but PATH and HOME). */
  readonly env: NodeJS.ProcessEnv;
  /** FX_DATA_DIR: admin.token, signing.key, the embedded store. */
  readonly dataDir: TempDir;
  readonly redisPrefix?: string;
  private readonly db?: TestDatabase;
  private readonly ownsPrefix: boolean;
  private readonly options: ServerProcessOptions;

  /** Use ServerProcess.start(). */
  constructor(init: ServerInit) {
    super();
    this.backend = init.backend;
    this.port = init.port;
    this.env = init.env;
    this.dataDir = init.dataDir;
    this.db = init.db;
    this.redisPrefix = init.redisPrefix;
    this.ownsPrefix = init.ownsPrefix;
    this.options = init.options;
  }

  /** Starts a server on `backend`; `extraEnv` overrides any variable the fixture sets. Resolves once /readyz answers. */
  static async start<T extends ServerProcess>(
    this: new (init: ServerInit) => T,
    backend: Backend,
    extraEnv: Record<string, string> = {},
    options: ServerProcessOptions = {},
  ): Promise<T> {
    const port = await freePort();
    const dataDir = await tempDir(options.dirLabel ?? 'fx-e2e-server');
    const pgRedis = backend === 'postgres+redis';
    const db = pgRedis && !options.shared ? await createTestDatabase() : undefined;
    const redisPrefix = pgRedis ? (options.shared?.redisPrefix ?? randomPrefix()) : undefined;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOST: '127.0.0.1',
      PORT: String(port),
      FX_DATA_DIR: dataDir.path,
      FX_LOG_LEVEL: 'warn',
      ...(pgRedis ? { DATABASE_URL: options.shared?.databaseUrl ?? db!.url, REDIS_URL: testRedisUrl(), FX_REDIS_PREFIX: redisPrefix } : {}),
      ...extraEnv,
    };
    const server = new this({ backend, port, env, dataDir, db, redisPrefix, ownsPrefix: pgRedis && !options.shared, options });
    try {
      await server.boot();
      // A replica on a shared database finds the admin already made: only the first writes admin.token.
      if (!server.adminToken && !options.shared) throw new Error(`server wrote no admin.token in ${dataDir.path}:\n${server.log()}`);
    } catch (e) {
      await server.stop().catch(() => undefined);
      throw e;
    }
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the process (again, after kill()) with the same environment and waits for /readyz. */
  async boot(): Promise<void> {
    const child = spawn(process.execPath, [...(this.options.nodeArgs ?? []), SERVER_MAIN], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.adopt(child, this.options.keepOutput);
    const readyMs = this.options.readyTimeoutMs ?? 60_000;
    const deadline = Date.now() + readyMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited (${child.exitCode ?? child.signalCode}):\n${this.log()}`);
      try {
        if ((await fetch(`${this.url}/readyz`)).ok) break;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) throw new Error(`server not ready within ${readyMs / 1000} s:\n${this.log()}`);
      await sleep(150);
    }
    this.adminToken = (await readFile(join(this.dataDir.path, 'admin.token'), 'utf8').catch(() => this.adminToken)).trim();
  }

  /** The end of what the server wrote to stdout and stderr. */
  log(chars = 8000): string {
    const text = this.output.join('').slice(-chars);
    return this.options.name ? `--- server ${this.options.name} ---\n${text}` : text;
  }

  /** Signals the process (SIGKILL: a crash) and waits for it to exit; rejects if it outlives `timeoutMs`. */
  async kill(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 30_000): Promise<void> {
    if (!this.child || !this.running) return;
    this.child.kill(signal);
    await exited(this.child, timeoutMs);
  }

  /** A crash and a restart in place: SIGKILL, then boot() (which stops the embedded PostgreSQL the dead server left). */
  async restart(): Promise<void> {
    await this.kill('SIGKILL');
    await this.boot();
  }

  /**
   * Graceful when it can be (SIGTERM, so the server stops its embedded PostgreSQL), SIGKILL otherwise;
   * then removes what the fixture made. Safe to call twice.
   */
  async stop(): Promise<void> {
    try {
      await this.kill('SIGTERM').catch(() => this.kill('SIGKILL'));
      await stopLeftoverPostgres(join(this.dataDir.path, 'postgres'));
      if (this.db) await this.db.drop();
      if (this.ownsPrefix && this.redisPrefix) await cleanupRedisPrefix(testRedisUrl(), this.redisPrefix);
    } finally {
      await this.dataDir.remove();
    }
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * A server that was SIGKILLed (and not booted again) leaves its embedded PostgreSQL running: stop it
 * (fast shutdown, then SIGKILL) before its files are removed. Its pid is the first line of postmaster.pid.
 */
async function stopLeftoverPostgres(storeDir: string): Promise<void> {
  const pid = Number((await readFile(join(storeDir, 'data', 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes('postgres')) return; // the pid was reused by something else
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}
