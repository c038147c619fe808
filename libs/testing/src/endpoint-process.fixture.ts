import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ENDPOINT_CLI } from './fx-paths.fixture.js';
import { ChildFixture, exited } from './process.fixture.js';
import { tempDir, type TempDir } from './temp-dir.fixture.js';

export interface EndpointProcessOptions {
  /** Variables added to PATH, HOME and FX_HOME for every `fx-endpoint` command and the agent. */
  env?: Record<string, string>;
  /**
   * Run the agent in a process group of its own, so that killAll() takes its workers too (and a
   * Ctrl-C to the test does not reach it). @default false
   */
  detached?: boolean;
  /** Output chunks kept for log(). @default 2000 */
  keepOutput?: number;
  /** Prefix of the temp FX_HOME's name. @default 'fx-e2e-home' */
  dirLabel?: string;
}

export interface ConfigureOptions extends EndpointProcessOptions {
  /** `--workers`; the CLI's default without it. */
  workers?: number;
  /** The token `configure` registers with. @default the server's admin token */
  token?: string;
}

export interface AgentStartOptions {
  /** Node flags for the agent process (`--cpu-prof`). */
  nodeArgs?: string[];
  /** Arguments after `start <name>` (`--takeover`). */
  args?: string[];
  /**
   * Run the agent as an unprivileged user (`nobody`, its FX_HOME handed to it) when the tests run as
   * root: a root agent runs only its owner's tasks, so another user's tasks (endpoint groups) need this
   * on a root CI machine. Nothing changes when the tests run as another user already. @default false
   */
  unprivileged?: boolean;
}

/** The uid and gid of `nobody` on Debian. */
const NOBODY = 65534;

/** The server an endpoint registers with: a ServerProcess, or anything with a URL and an admin token. */
export interface ServerAddress {
  url: string;
  adminToken: string;
}

/**
 * An FX_HOME of its own (a temp dir) for the built `fx-endpoint` CLI, one endpoint `name` in it, and
 * the agent process once start()ed. stop() ends the agent and removes the home.
 */
export class EndpointProcess extends ChildFixture {
  endpointId = '';
  /** The environment of every command and of the agent; a test may replace it before start(). */
  env: NodeJS.ProcessEnv;

  /** Use EndpointProcess.create() or .configure(). */
  constructor(
    readonly name: string,
    readonly home: TempDir,
    private readonly options: EndpointProcessOptions = {},
  ) {
    super();
    this.env = { PATH: process.env.PATH, HOME: process.env.HOME, FX_HOME: home.path, ...options.env };
  }

  /** A fresh FX_HOME with nothing configured yet (run `configure` through cli()). */
  static async create<T extends EndpointProcess>(
    this: new (name: string, home: TempDir, options?: EndpointProcessOptions) => T,
    name: string,
    options: EndpointProcessOptions = {},
  ): Promise<T> {
    return new this(name, await tempDir(options.dirLabel ?? 'fx-e2e-home'), options);
  }

  /** A fresh FX_HOME with endpoint `name` registered on `server` (`fx-endpoint configure`). */
  static async configure<T extends EndpointProcess>(
    this: new (name: string, home: TempDir, options?: EndpointProcessOptions) => T,
    server: ServerAddress,
    name: string,
    options: ConfigureOptions = {},
  ): Promise<T> {
    const ep = new this(name, await tempDir(options.dirLabel ?? 'fx-e2e-home'), options);
    const args = ['configure', name, '--url', server.url, '--token', options.token ?? server.adminToken];
    if (options.workers) args.push('--workers', String(options.workers));
    const r = ep.cli(args);
    if (r.status !== 0) {
      await ep.home.remove();
      throw new Error(`fx-endpoint configure failed (${r.status}): ${r.stderr}${r.stdout}`);
    }
    const config = await readFile(join(ep.dir, 'config.yaml'), 'utf8');
    ep.endpointId = /endpointId:\s*"?([0-9a-f-]{36})/.exec(config)![1]!;
    return ep;
  }

  /** This endpoint's directory in FX_HOME: config.yaml, token, status.json, endpoint.log. */
  get dir(): string {
    return join(this.home.path, 'endpoints', this.name);
  }

  /**
   * Sets top-level keys of this endpoint's config.yaml (`{ sandbox: 'none', prefetch: 0 }`), keeping the
   * others; the agent reads it when it starts.
   */
  async mergeConfig(changes: Record<string, unknown>): Promise<void> {
    const path = join(this.dir, 'config.yaml');
    const config = parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    await writeFile(path, stringify({ ...config, ...changes }), { mode: 0o600 });
  }

  /** Runs one `fx-endpoint` command to its end; `env` adds variables for this command only. */
  cli(args: string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
    return spawnSync(process.execPath, [ENDPOINT_CLI, ...args], { env: { ...this.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  }

  /** Runs `fx-endpoint start <name>` in the foreground, as a child the test can signal. */
  start(options: AgentStartOptions = {}): ChildProcess {
    const asNobody = options.unprivileged === true && process.getuid?.() === 0;
    if (asNobody) spawnSync('chown', ['-R', `${NOBODY}:${NOBODY}`, this.home.path]);
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ENDPOINT_CLI, 'start', this.name, ...(options.args ?? [])], {
      env: asNobody ? { ...this.env, HOME: this.home.path } : this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: this.options.detached ?? false,
      ...(asNobody ? { uid: NOBODY, gid: NOBODY } : {}),
    });
    return this.adopt(child, this.options.keepOutput);
  }

  /** The end of what the agent wrote to stdout and stderr. */
  log(chars = 8000): string {
    return this.output.join('').slice(-chars);
  }

  /** Signals the agent and resolves with its exit code (null when a signal ended it); rejects if it outlives `timeoutMs`. */
  async kill(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 60_000): Promise<number | null> {
    if (!this.child || !this.running) return this.child?.exitCode ?? null;
    this.child.kill(signal);
    return exited(this.child, timeoutMs);
  }

  /** The agent's status file, or undefined before it wrote one. */
  async status(): Promise<{ connection?: string; connectedAt?: string; processes?: { pids?: number[] } } | undefined> {
    try {
      return JSON.parse(await readFile(join(this.dir, 'status.json'), 'utf8'));
    } catch {
      return undefined;
    }
  }

  /** The worker pids the agent reports in its status file. */
  async workerPids(): Promise<number[]> {
    return (await this.status())?.processes?.pids ?? [];
  }

  /** When the agent's current connection was welcomed (it changes on every new connection); undefined while not connected. */
  async connectedAt(): Promise<string | undefined> {
    const status = await this.status();
    return status?.connection === 'connected' ? status.connectedAt : undefined;
  }

  /** SIGKILL to the agent and its workers (its process group when detached, and each worker pid it reported); returns how many workers. */
  async killAll(): Promise<number> {
    const child = this.child;
    if (!child || !this.running) return 0;
    const workers = await this.workerPids();
    try {
      if (!this.options.detached) throw new Error('not a group leader');
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
    for (const pid of workers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await exited(child, 30_000);
    return workers.length;
  }

  /** Drains the agent (SIGTERM), kills it and its workers if it will not stop, and removes the home. Safe to call twice. */
  async stop(): Promise<void> {
    try {
      await this.kill('SIGTERM').catch(() => this.killAll());
    } finally {
      await this.home.remove();
    }
  }
}
