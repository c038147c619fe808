import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { alive } from '../data-dir.lock.js';
import type { PostgresBinaries } from './postgres.binaries.js';
import type { Launcher } from './postgres.launcher.js';

export interface EmbeddedPostgresOptions {
  /** FX's directory for the store (`<FX_DATA_DIR>/postgres`): `data/` (PGDATA), `password`, `server.log`. */
  dir: string;
  binaries: PostgresBinaries;
  launcher: Launcher;
  log?: (msg: string) => void;
  /** Connections FX's pool may open; the server allows more, for migrations and a psql session. @default 10 */
  poolSize?: number;
  /** How long start() waits for the server to accept connections. @default 60000 */
  startTimeoutMs?: number;
}

/** The embedded PostgreSQL would not start; the message carries the end of its log. */
export class EmbeddedPostgresError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EmbeddedPostgresError';
  }
}

const USER = 'fx';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A real PostgreSQL server, run by FX from binaries that npm installed, with its files in FX's data
 * directory. It listens on 127.0.0.1 only, on a port picked at each start, and takes only the password
 * that initdb was given (kept 0600 beside the data). If it dies while FX runs it is started again; one
 * left running by an FX that was killed is stopped before a new one starts (the data directory lock
 * proves no live FX owns it).
 */
export class EmbeddedPostgres {
  private child?: ChildProcess;
  private port = 0;
  private password = '';
  private stopping = false;
  private restarts: number[] = [];
  private readonly log: (msg: string) => void;
  // FX exiting without stop() (a failed start, process.exit): a signal is all an exit handler can send,
  // and postgres finishes its fast shutdown on its own.
  private readonly onProcessExit = () => {
    this.stopping = true;
    this.child?.kill('SIGINT');
  };

  constructor(private readonly options: EmbeddedPostgresOptions) {
    this.log = options.log ?? (() => {});
  }

  private get dataDir(): string {
    return join(this.options.dir, 'data');
  }

  /** postgresql:// URL of the running server. */
  get url(): string {
    return `postgresql://${USER}:${encodeURIComponent(this.password)}@127.0.0.1:${this.port}/postgres`;
  }

  async start(): Promise<void> {
    await mkdir(this.options.dir, { recursive: true, mode: 0o700 });
    await this.initIfNew();
    this.password = (await readFile(join(this.options.dir, 'password'), 'utf8')).trim();
    await this.stopOrphan();
    for (let attempt = 1; ; attempt++) {
      this.port = await freePort();
      try {
        await this.launch();
        return;
      } catch (e) {
        // Another program may take the port between freePort() and postgres' bind: pick another.
        if (attempt >= 3 || !/could not bind|Address already in use/i.test((e as Error).message)) throw e;
      }
    }
  }

  /** Fast shutdown: ends sessions, checkpoints, exits. */
  async stop(): Promise<void> {
    this.stopping = true;
    process.off('exit', this.onProcessExit);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGINT');
    // A timer that outlived the exit would hold FX's process open for its whole length.
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }

  private async initIfNew(): Promise<void> {
    if (existsSync(join(this.dataDir, 'PG_VERSION'))) return;
    // initdb into a scratch directory renamed into place: a crash mid-way leaves no half-made store.
    const scratch = `${this.dataDir}.init`;
    await rm(scratch, { recursive: true, force: true });
    const password = randomBytes(24).toString('hex');
    const pwfile = join(this.options.dir, 'password');
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    const [cmd, args] = this.options.launcher(this.options.binaries.initdb, [
      '-D',
      scratch,
      '-U',
      USER,
      '--auth=scram-sha-256',
      `--pwfile=${pwfile}`,
      '-E',
      'UTF8',
      '--locale=C',
    ]);
    const run = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
    if (run.error || run.status !== 0) {
      await rm(scratch, { recursive: true, force: true });
      throw new EmbeddedPostgresError(`initdb failed: ${run.error?.message ?? tail(run.stderr || run.stdout)}`, { cause: run.error });
    }
    await rename(scratch, this.dataDir);
    this.log(`created the embedded PostgreSQL ${this.options.binaries.version} in ${this.dataDir}`);
  }

  /** A postmaster still running on our data directory belongs to an FX that was killed: stop it. */
  private async stopOrphan(): Promise<void> {
    let pid: number;
    try {
      pid = Number((await readFile(join(this.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    } catch {
      return;
    }
    if (!Number.isInteger(pid) || pid <= 0 || !alive(pid) || !(await isPostgres(pid))) return;
    this.log(`stopping the embedded PostgreSQL (pid ${pid}) left running by an earlier FX`);
    process.kill(pid, 'SIGINT');
    for (let i = 0; i < 300 && alive(pid); i++) await sleep(100);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
  }

  private async launch(): Promise<void> {
    const logFile = join(this.options.dir, 'server.log');
    const fd = openSync(logFile, 'a', 0o600);
    const [cmd, args] = this.options.launcher(this.options.binaries.postgres, [
      '-D',
      this.dataDir,
      '-p',
      String(this.port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      `max_connections=${Math.max(40, (this.options.poolSize ?? 10) + 20)}`,
    ]);
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    this.child = child;
    this.stopping = false;
    process.off('exit', this.onProcessExit);
    process.on('exit', this.onProcessExit);
    const exited = new Promise<string>((resolve) => {
      child.once('error', (e) => resolve(e.message));
      child.once('exit', (code, signal) => resolve(`exited with ${signal ?? code}`));
    });
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 60_000);
    for (;;) {
      const early = await Promise.race([exited, sleep(100).then(() => undefined)]);
      if (early !== undefined) {
        throw new EmbeddedPostgresError(`the embedded PostgreSQL ${early}: ${tail(await readFile(logFile, 'utf8').catch(() => ''))}`);
      }
      if (await this.answers()) break;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new EmbeddedPostgresError(
          `the embedded PostgreSQL did not accept connections within ${this.options.startTimeoutMs ?? 60_000} ms: ${tail(await readFile(logFile, 'utf8').catch(() => ''))}`,
        );
      }
    }
    void exited.then((why) => this.onExit(child, why));
  }

  private async answers(): Promise<boolean> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 2_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  }

  // Killed by the OOM killer or by hand: the pool's next connection needs a server, so start it again
  // (on the same port, which the pool's URL names), unless it keeps dying.
  private onExit(child: ChildProcess, why: string): void {
    if (this.stopping || child !== this.child) return;
    const now = Date.now();
    this.restarts = [...this.restarts.filter((t) => now - t < 60_000), now];
    if (this.restarts.length > 5) {
      this.log(`the embedded PostgreSQL ${why} and has died 5 times in a minute; not restarting it (see ${join(this.options.dir, 'server.log')})`);
      return;
    }
    this.log(`the embedded PostgreSQL ${why}; starting it again`);
    void sleep(500)
      .then(() => (this.stopping ? undefined : this.launch()))
      .catch((e) => this.log(`the embedded PostgreSQL did not restart: ${(e as Error).message}`));
  }
}

/** Guards against a reused pid: only a process whose command is postgres is stopped. */
async function isPostgres(pid: number): Promise<boolean> {
  try {
    return /postgres/.test(await readFile(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    // No /proc (macOS): trust the pid file, which postgres removes on a clean exit.
    return process.platform !== 'linux';
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
