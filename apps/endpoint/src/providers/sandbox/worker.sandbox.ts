import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inheritedEnv, type InheritedEnv } from '../../config/env.js';
import { NamedError } from '../../common/named.error.js';
import { DEFAULT_SANDBOX_MAX_PROCESSES, processLimitHolds, underProcessLimit } from './process-limit.js';
import { sandboxUids } from './sandbox-uids.js';

/** config.yaml's `sandbox:`. */
export type SandboxSetting = 'auto' | 'bwrap' | 'none';
/** What workers actually run under. */
export type SandboxKind = 'bwrap' | 'uid' | 'none';

/** The only variables a worker inherits from the agent; everything else (FX_*, tokens, DATABASE_URL) stays out. */
const INHERITED = new Set(['PATH', 'LANG', 'LANGUAGE', 'TZ', 'TERM']);
const INHERITED_PREFIXES = ['LC_'];
/** FX's own settings and secrets, never passed on (all-but-secrets). */
const FX_OWN = new Set([
  'FX_HOME',
  'FX_TOKEN',
  'FX_TOKEN_FILE',
  'FX_DATA_DIR',
  'FX_SIGNING_KEY',
  'FX_BLOCK_SECRET',
  'FX_LOG_LEVEL',
  'FX_LOG_FORMAT',
  'FX_ADMIN_NAME',
  'DATABASE_URL',
  'REDIS_URL',
  'FX_REDIS_PREFIX',
]);
const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_?KEY|PRIVATE_?KEY/i;

export class SandboxError extends NamedError {}

export interface WorkerSandboxOptions {
  kind: SandboxKind;
  /**
   * Directories hidden behind an empty tmpfs under bwrap (FX_HOME, the server's data dir, the user's
   * home). The agent's user's runtime dirs (/run/user/<uid>, $XDG_RUNTIME_DIR) always are.
   */
  hide?: string[];
  /**
   * Directories bwrap keeps visible, read-only, even inside a hidden one (a tool installed in the
   * user's home). FX's own installation and Node's are always kept: workers run from them.
   */
  show?: string[];
  /** Extra variable prefixes a worker inherits (a Slurm block's SLURM_*, PMI_*). */
  inheritPrefixes?: string[];
  /**
   * `allow-list` (default): only PATH, LANG, LC_*, TZ, TERM and `inheritPrefixes`. `all-but-secrets`: the
   * whole environment but FX's own settings and anything named like a secret — for a Slurm block, whose
   * environment is what the user's `workerInit` built (`module load`) and must reach the tasks.
   */
  inherit?: 'allow-list' | 'all-but-secrets';
  /**
   * The environment workers inherit from (filtered by `inherit`).
   * @default config/env's inheritedEnv(): the agent's own
   */
  environment?: InheritedEnv;
  /** Why no sandbox is in force, for the log and `fx-endpoint status`. */
  note?: string;
  /**
   * false: tasks get a network of their own with only its loopback (bubblewrap's --unshare-net), so they
   * reach no service of the host or its network (a database that trusts local connections, the LAN).
   * Needs bubblewrap. @default true
   */
  network?: boolean;
  /**
   * true: tasks may make user namespaces of their own (containers: podman, rootless apptainer). In one a
   * task holds every capability over the files of its uid, the agent's, so the agent then runs only its
   * owner's tasks (`isolating`). @default false (--disable-userns where bubblewrap has it)
   */
  userNamespaces?: boolean;
  /**
   * The most processes and threads one worker process or shell task may have, with what it starts: a
   * fork bomb stops there (process-limit.ts says where the kernel can count them apart).
   * @default DEFAULT_SANDBOX_MAX_PROCESSES
   */
  maxProcesses?: number;
}

export interface SpawnSpec {
  file: string;
  args: string[];
  uid?: number;
  gid?: number;
}

/**
 * How worker processes (js workers, shell and MPI commands) are started: always with a scrubbed
 * environment and a private working directory of their own under the OS temp dir (HOME points there);
 * under `bwrap` in a read-only view of the filesystem where FX_HOME, the server's data dir, the user's
 * home and runtime dirs are empty, and with no user namespace of their own; under `uid` as an
 * unprivileged user of its own (sandbox-uids.ts: the agent's files are 0700/0600 and out of reach, and
 * so is every other worker's and task's directory).
 */
export class WorkerSandbox {
  readonly kind: SandboxKind;
  readonly note?: string;
  private readonly hide: string[];
  private readonly show: string[];
  private readonly inheritPrefixes: string[];
  private readonly inherit: 'allow-list' | 'all-but-secrets';
  private readonly environment: InheritedEnv;

  constructor(private readonly options: WorkerSandboxOptions = { kind: 'none' }) {
    this.kind = options.kind;
    this.note = options.note;
    this.environment = options.environment ?? inheritedEnv();
    this.hide = [...new Set([...(options.hide ?? []), ...userRuntimeDirs(this.environment)].map((p) => resolve(p)))];
    this.show = [...new Set([...(options.show ?? []).map((p) => resolve(p)), ...runtimeDirs()])];
    this.inheritPrefixes = [...INHERITED_PREFIXES, ...(options.inheritPrefixes ?? [])];
    this.inherit = options.inherit ?? 'allow-list';
  }

  /**
   * This sandbox with more directories kept visible, read-only: an interpreter's installation (a pyenv
   * or conda Python under the home dir) that the workers run from.
   */
  showing(dirs: string[]): WorkerSandbox {
    if (this.kind !== 'bwrap' || dirs.length === 0) return this;
    return new WorkerSandbox({ ...this.options, show: [...(this.options.show ?? []), ...dirs] });
  }

  /**
   * What tasks run under, as the agent reports it: `bwrap-userns` for bubblewrap that lets tasks make
   * user namespaces (asked for by `userNamespaces`, or a bubblewrap older than 0.8), which keeps one
   * task's files from another's no better than `uid` does: such an agent runs only its owner's tasks.
   */
  get reported(): 'bwrap' | 'bwrap-userns' | 'uid' | 'none' {
    const tasksMakeUserns = hostAllowsUserns(this.environment) && (this.options.userNamespaces === true || !disablesUserns(this.environment));
    return this.kind === 'bwrap' && tasksMakeUserns ? 'bwrap-userns' : this.kind;
  }

  /** The processes a worker or shell task may have, or why they are not bounded here. */
  get processLimit(): { max: number } | { unbounded: string } {
    if (this.kind === 'none') return { unbounded: 'no sandbox' };
    const why = processLimitHolds(this.kind, this.blocksUserns(), this.environment);
    return why === undefined ? { max: this.options.maxProcesses ?? DEFAULT_SANDBOX_MAX_PROCESSES } : { unbounded: why };
  }

  private blocksUserns(): boolean {
    return this.options.userNamespaces !== true && disablesUserns(this.environment);
  }

  /** Resolves `sandbox:` once at start: `auto` takes bwrap when it works, else a uid of its own per worker when root, else none (with a note). */
  static resolve(setting: SandboxSetting, options: Omit<WorkerSandboxOptions, 'kind' | 'note'> = {}): WorkerSandbox {
    if (setting === 'none' && options.network === false)
      throw new SandboxError(
        'sandboxNetwork: false needs bubblewrap, and config.yaml says sandbox: none; set sandbox: auto or bwrap, or remove sandboxNetwork',
      );
    if (setting === 'none')
      return new WorkerSandbox({ ...options, kind: 'none', note: "sandbox: none (config.yaml): tasks run as the agent's user and can read what it can read" });
    const probe = probeBwrap(options.environment);
    if (probe === undefined) return new WorkerSandbox({ ...options, kind: 'bwrap' });
    if (options.network === false)
      throw new SandboxError(
        `sandboxNetwork: false is set in config.yaml but bubblewrap does not work here (${probe}), and only bubblewrap can take the network from tasks; install the "bubblewrap" package or remove sandboxNetwork`,
      );
    if (setting === 'bwrap')
      throw new SandboxError(
        `sandbox: bwrap is set in config.yaml but bubblewrap does not work here (${probe}); install the "bubblewrap" package or set sandbox: auto or none`,
      );
    if (process.getuid?.() === 0) return new WorkerSandbox({ ...options, kind: 'uid' });
    return new WorkerSandbox({
      ...options,
      kind: 'none',
      note: `no sandbox: bubblewrap does not work here (${probe}) and the agent is not root; tasks can read what the agent's user can read (install "bubblewrap")`,
    });
  }

  /**
   * A fresh private directory for one worker process or task, owned by whoever runs in it: under `uid`, a
   * user of its own that command() then runs as.
   */
  async workDir(prefix: string, root: string = tmpdir()): Promise<string> {
    const dir = await mkdtemp(join(root, prefix));
    await chmod(dir, 0o700);
    if (this.kind === 'uid') {
      const uid = sandboxUids.take(dir);
      await chown(dir, uid, uid);
    }
    return dir;
  }

  /** The whole environment of a worker process: the allow-list from the agent's, then `extra`, HOME at its dir. */
  env(workDir: string, extra: Record<string, string> = {}): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(this.environment)) {
      if (value === undefined) continue;
      if (this.inherit === 'all-but-secrets') {
        if (!FX_OWN.has(key) && !SECRET_NAME.test(key)) env[key] = value;
      } else if (!key.startsWith('FX_') && (INHERITED.has(key) || this.inheritPrefixes.some((p) => key.startsWith(p)))) {
        env[key] = value;
      }
    }
    return { ...env, ...extra, HOME: workDir, TMPDIR: this.kind === 'bwrap' ? '/tmp' : workDir };
  }

  /**
   * Ends what ran in `workDir` (one workDir() made) and removes it, once its worker or task is done.
   * Under `uid`, first every process left running as the directory's user: a daemon a task started
   * (setsid, double fork) escapes its process group and would outlive its worker, go on reading what
   * later tasks write to the shared /tmp, and hold the uid when it is handed out again. Never throws.
   */
  async release(workDir: string): Promise<void> {
    const uid = this.kind === 'uid' ? sandboxUids.of(workDir) : undefined;
    if (uid !== undefined) await killUser(uid);
    await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    sandboxUids.forget(workDir);
  }

  /**
   * How to start `file args` in `workDir` (one workDir() made) under this sandbox. `tasks: false` for a
   * process that runs none of the tasks' code (the Python probe), which then starts `file` itself, and
   * a spawn error (EACCES) names it.
   */
  command(file: string, args: string[], workDir: string, o: { tasks?: boolean } = {}): SpawnSpec {
    if (this.kind === 'uid') {
      const uid = sandboxUids.of(workDir);
      // never the agent's own user (root) for a directory this sandbox did not make
      if (uid === undefined) throw new SandboxError(`${workDir} is not a directory the sandbox made for a worker or task`);
      // /tmp and /dev/shm are the host's under `uid`: what a task writes there is its own (0600, 0700), not
      // readable by the other users' tasks running beside it (exec keeps the pid, fds and arguments)
      if (o.tasks === false) return { file, args, uid, gid: uid };
      return { file: '/bin/sh', args: ['-c', 'umask 077 && exec "$0" "$@"', ...this.limited(file, args)], uid, gid: uid };
    }
    if (this.kind === 'none') return { file, args };
    // Its own pids and System V IPC: a task of another owner sees neither these processes nor the shared
    // memory segments and semaphores they leave (which outlive them, and share one uid).
    const bw = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--unshare-pid', '--unshare-ipc', '--die-with-parent'];
    if (this.options.network === false) bw.push('--unshare-net');
    // An agent run as root would hand its tasks root's capabilities, and with them the power to read past
    // file modes: list the object stage (0311) and so reach another task's staged objects. Tasks get none.
    if (process.getuid?.() === 0) bw.push('--cap-drop', 'ALL');
    // Nor a user namespace of their own (unshare -Ur): in one a task holds every capability over the files
    // of its uid, the agent's, and lists the object stage all the same. bubblewrap >= 0.8 forbids it.
    if (this.blocksUserns()) bw.push('--unshare-user', '--disable-userns');
    // Mounts stack in order: hide (an empty tmpfs over /tmp, FX_HOME, the home dir...), then show again,
    // read-only, what must stay visible inside a hidden dir (FX and Node when they are installed under the
    // home dir or /tmp), then hide once more what lies inside a shown dir (npm start's data dir in the
    // repository), then show again what that last tmpfs covered (the object stage in that FX_HOME), and
    // last the worker's own writable dir. Parents before children at each step.
    const byDepth = (a: string, b: string) => a.length - b.length;
    const inside = (path: string, dir: string) => path === dir || path.startsWith(dir === '/' ? '/' : dir + '/');
    const hidden = [...new Set(['/tmp', safeRealpath(tmpdir()), ...this.hide.map(safeRealpath)])].filter((d) => d !== '/' && existsSync(d)).sort(byDepth);
    const shown = this.show
      .map(safeRealpath)
      .filter((d) => existsSync(d) && hidden.some((h) => inside(d, h)))
      .sort(byDepth);
    for (const dir of hidden) if (!hidden.some((h) => h !== dir && inside(dir, h))) bw.push('--tmpfs', dir);
    for (const dir of shown) bw.push('--ro-bind', dir, dir);
    const rehidden = hidden.filter((dir) => shown.some((s) => inside(dir, s) && dir !== s));
    for (const dir of rehidden) bw.push('--tmpfs', dir);
    for (const dir of shown) if (rehidden.some((h) => inside(dir, h) && dir !== h)) bw.push('--ro-bind', dir, dir);
    bw.push('--bind', workDir, workDir, '--chdir', workDir, '--', ...(o.tasks === false ? [file, ...args] : this.limited(file, args)));
    return { file: 'bwrap', args: bw };
  }

  private limited(file: string, args: string[]): string[] {
    const limit = this.processLimit;
    return 'max' in limit ? underProcessLimit(limit.max, file, args) : [file, ...args];
  }
}

/**
 * SIGKILL to every process of `uid`: kill(-1) sent as that user reaches exactly the processes it may
 * signal, its own (twice: a process forking at the first may have a child the first did not see).
 */
function killUser(uid: number): Promise<void> {
  return new Promise((done) => {
    const child = spawn('/bin/sh', ['-c', 'kill -9 -1 2>/dev/null; kill -9 -1 2>/dev/null; exit 0'], { uid, gid: uid, stdio: 'ignore', env: {}, cwd: '/' });
    child.on('error', () => done());
    child.on('exit', () => done());
  });
}

function safeRealpath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

let probed: string | undefined | null = null;

/** undefined when bubblewrap can start a sandbox here, else why not. Probed once per process. */
export function probeBwrap(environment: InheritedEnv = inheritedEnv()): string | undefined {
  if (probed !== null) return probed;
  const r = spawnSync(
    'bwrap',
    ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp', '--unshare-pid', '--die-with-parent', '--', 'true'],
    {
      encoding: 'utf8',
      timeout: 10_000,
      env: { PATH: environment.PATH ?? '/usr/bin:/bin' },
    },
  );
  probed = r.error ? r.error.message : r.status === 0 ? undefined : r.stderr.trim() || `exit status ${r.status}`;
  return probed;
}

/**
 * The agent's user's runtime dirs (/run/user/<uid>, $XDG_RUNTIME_DIR): their sockets (the systemd user
 * bus, gpg and ssh agents) answer whoever connects as that user, which would take a task out of its
 * sandbox. command() hides those that exist.
 */
function userRuntimeDirs(environment: InheritedEnv): string[] {
  const uid = process.getuid?.();
  return [...(uid !== undefined ? [`/run/user/${uid}`] : []), ...(environment.XDG_RUNTIME_DIR ? [environment.XDG_RUNTIME_DIR] : [])];
}

let userns: boolean | null = null;

/**
 * Whether bubblewrap here can keep tasks from making user namespaces (--disable-userns, bubblewrap 0.8
 * and later, with --unshare-user). Probed once per process; without it tasks run as before and
 * resolveSandbox says so in the log.
 */
export function disablesUserns(environment: InheritedEnv = inheritedEnv()): boolean {
  if (userns !== null) return userns;
  const r = spawnSync(
    'bwrap',
    ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--unshare-pid', '--unshare-user', '--disable-userns', '--die-with-parent', '--', 'true'],
    { encoding: 'utf8', timeout: 10_000, env: { PATH: environment.PATH ?? '/usr/bin:/bin' } },
  );
  userns = !r.error && r.status === 0;
  return userns;
}

let nestable: boolean | null = null;

/**
 * Whether this user may make user namespaces at all. Where it may not (a host with them off, as many
 * HPC hosts with a setuid bubblewrap have), neither may its tasks, with --disable-userns or without,
 * and bubblewrap's failure to probe --disable-userns there says nothing against isolation. Probed once.
 */
function hostAllowsUserns(environment: InheritedEnv): boolean {
  if (nestable !== null) return nestable;
  const r = spawnSync('unshare', ['-U', 'true'], { encoding: 'utf8', timeout: 10_000, env: { PATH: environment.PATH ?? '/usr/bin:/bin' } });
  if (r.error) {
    // no unshare(1) here: the kernel's own switch
    let max = '';
    try {
      max = readFileSync('/proc/sys/user/max_user_namespaces', 'utf8').trim();
    } catch {
      // unknown: assume they may, and say so (bwrap-userns)
    }
    nestable = max !== '0';
  } else nestable = r.status === 0;
  return nestable;
}

/**
 * What a worker process needs to start, kept visible under bwrap: Node's installation prefix and FX's
 * own (the topmost directory above this file that holds a node_modules, where the worker script and
 * its packages resolve from).
 */
function runtimeDirs(): string[] {
  const dirs = [dirname(dirname(process.execPath))];
  let dir = dirname(fileURLToPath(import.meta.url));
  let top: string | undefined;
  for (;;) {
    if (existsSync(join(dir, 'node_modules'))) top = dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  if (top) dirs.push(top);
  return dirs;
}
