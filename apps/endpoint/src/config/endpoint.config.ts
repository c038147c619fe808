import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { AGENT_RECONNECT_MAX_DELAY_MS, LOG_LEVELS, ResourceName, Uuid } from '@fx/protocol';
import { ConfigError } from './config.errors.js';
import type { EndpointPaths } from './endpoint.paths.js';
import { parseWalltime } from './walltime.js';
import { TaskLimitsConfig } from './task-limits.js';

const httpUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}, 'must be an http:// or https:// URL');

export const ReconnectConfig = z
  .object({
    initialDelayMs: z.number().int().positive().default(250),
    maxDelayMs: z.number().int().positive().default(AGENT_RECONNECT_MAX_DELAY_MS),
  })
  .strict()
  .refine((r) => r.maxDelayMs >= r.initialDelayMs, { message: 'maxDelayMs must be at least initialDelayMs' });

/** `accelerators: auto` or a list of device ids (`["0", "1"]`). */
export const AcceleratorsConfig = z.union([
  z.literal('auto'),
  z
    .array(
      z
        .string()
        .min(1)
        .max(128)
        .regex(/^[A-Za-z0-9:._-]+$/),
    )
    .min(1)
    .max(1024),
]);

/** The `slurm:` section, read when `provider: slurm`. */
export const SlurmConfig = z
  .object({
    partition: z.string().min(1).optional(),
    account: z.string().min(1).optional(),
    qos: z.string().min(1).optional(),
    /** Block walltime, Slurm's format (`HH:MM:SS`, `D-HH:MM:SS`, minutes). */
    walltime: z
      .string()
      .default('01:00:00')
      .refine((v) => (parseWalltime(v) ?? 0) >= 60, 'must be a Slurm time of at least a minute, e.g. "00:30:00"'),
    nodesPerBlock: z.number().int().min(1).max(100_000).default(1),
    workersPerNode: z.number().int().min(1).max(4096).default(1),
    /** Cores each worker has (a task asking for more never lands there); when set, blocks request workersPerNode × this. */
    coresPerWorker: z.number().int().min(1).max(100_000).optional(),
    initBlocks: z.number().int().min(0).max(10_000).default(0),
    minBlocks: z.number().int().min(0).max(10_000).default(0),
    maxBlocks: z.number().int().min(1).max(10_000).default(1),
    maxIdleSeconds: z
      .number()
      .min(0)
      .max(7 * 24 * 3600)
      .default(120),
    /** Extra `#SBATCH` lines (with or without the `#SBATCH` prefix). */
    schedulerOptions: z.array(z.string().max(1024)).default([]),
    /** Shell lines run at the top of each block before the workers start (`module load …`). */
    workerInit: z
      .string()
      .max(64 * 1024)
      .default(''),
    /** How the block starts one worker per node: `srun`, or `none` (the batch script runs one worker itself). */
    launcher: z.enum(['srun', 'none']).default('srun'),
    /** How MPI functions start their ranks inside a block. */
    mpiLauncher: z.enum(['srun', 'mpiexec']).default('srun'),
    /** `host:port` the agent listens on for its block workers (port 0: any free port). */
    listen: z
      .string()
      .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):\d+$/, 'must be host:port')
      .default('0.0.0.0:0'),
    /** The host name block workers dial; default: this machine's host name. */
    address: z.string().min(1).optional(),
    /** How often one squeue call checks every block. */
    pollIntervalSeconds: z.number().min(0.2).max(3600).default(5),
  })
  .strict()
  .refine((s) => s.minBlocks <= s.maxBlocks, { message: 'minBlocks must be at most maxBlocks' })
  .refine((s) => s.initBlocks <= s.maxBlocks, { message: 'initBlocks must be at most maxBlocks' });
export type SlurmConfig = z.infer<typeof SlurmConfig>;

/** A size in MB under `objects:`: a whole number from 1 MB to 1 PB. */
const objectMB = (defaultMB: number) =>
  z
    .number()
    .int()
    .min(1)
    .max(1024 ** 3)
    .default(defaultMB);

/** The `objects:` section: data by reference (inputs cached on this endpoint, results stored as objects). */
export const ObjectsConfig = z
  .object({
    /** Size of the object cache (`objects/cache` beside config.yaml); least recently used objects no task holds go past it. */
    cacheMB: objectMB(10 * 1024),
    /** Largest result (or named output) a task may hand back to be stored as an object; larger fails RESULT_TOO_LARGE. */
    maxResultMB: objectMB(10 * 1024),
  })
  .strict();
export type ObjectsConfig = z.infer<typeof ObjectsConfig>;

/** `$FX_HOME/endpoints/<name>/config.yaml`. */
export const EndpointConfig = z
  .object({
    url: httpUrl,
    endpointId: Uuid,
    name: ResourceName,
    workers: z
      .number()
      .int()
      .min(1)
      .max(4096)
      .default(() => availableParallelism()),
    provider: z.enum(['local', 'slurm']).default('local'),
    /** Pin one worker to each accelerator: `auto` (nvidia-smi) or a list of device ids. */
    accelerators: AcceleratorsConfig.optional(),
    slurm: SlurmConfig.optional(),
    /** Lines of stdout and stderr kept per shell or python task. */
    shellOutputLines: z.number().int().min(1).max(1_000_000).default(1000),
    /** Live log text (millions of characters) streamed per running task (docs/live.md); past it, dropped and reported. */
    maxTaskLogMB: z.number().min(0).max(1024).default(1),
    /**
     * The least level of the agent's own lines about a task (received, started, finished, requeued…) that
     * go on the task's live stream (`fx logs <task> --agent`), whatever FX_LOG_LEVEL is; `off`: none.
     */
    taskLogLevel: z.enum([...LOG_LEVELS, 'off']).default('info'),
    /**
     * The interpreter python functions run on: a name on PATH or a path (a venv's or conda env's
     * bin/python). Absent: python3. Its workers start with the first python task.
     */
    python: z.string().min(1).max(4096).optional(),
    /** Extra tasks to hold beyond free workers; absent means as many as there are workers, and at least 256. */
    prefetch: z.number().int().min(0).max(100_000).optional(),
    reconnect: ReconnectConfig.default({ initialDelayMs: 250, maxDelayMs: AGENT_RECONNECT_MAX_DELAY_MS }),
    drainTimeoutSeconds: z
      .number()
      .positive()
      .max(7 * 24 * 3600)
      .default(30),
    /**
     * What task processes run under: `bwrap` (bubblewrap: read-only filesystem, FX_HOME, the home dir and
     * `sandboxHide` empty), `none`, or `auto` (bwrap when it works, else, when root, a uid of its own per
     * worker, else none with a warning). Absent: `auto` for provider local, `none` for slurm (its block
     * workers scrub the environment).
     */
    sandbox: z.enum(['auto', 'bwrap', 'none']).optional(),
    /** More directories bwrap hides from tasks (e.g. the FX server's data dir). */
    sandboxHide: z.array(z.string().min(1).max(4096)).max(64).optional(),
    /** Directories bwrap keeps visible (read-only) inside a hidden one, e.g. a conda install under the home dir. */
    sandboxShow: z.array(z.string().min(1).max(4096)).max(64).optional(),
    /**
     * false: tasks get no network but a loopback of their own (bwrap --unshare-net), for an endpoint that
     * runs other users' tasks (endpoint groups) on a host whose services trust local connections. Needs
     * bubblewrap: the agent refuses to start without it. Absent: the host's network.
     */
    sandboxNetwork: z.boolean().optional(),
    /**
     * true: tasks may make user namespaces of their own (containers: podman, rootless apptainer) under
     * bubblewrap; the agent then runs only its owner's tasks. Absent: they may not.
     */
    sandboxUserNamespaces: z.boolean().optional(),
    /**
     * The most processes and threads one worker process or shell task may have, with all it starts (a
     * fork bomb's bound). Absent: DEFAULT_SANDBOX_MAX_PROCESSES (4,096).
     */
    sandboxMaxProcesses: z.number().int().min(64).max(4_194_304).optional(),
    /** Absent: DEFAULT_TASK_LIMITS (so that configure writes no defaults into config.yaml). */
    taskLimits: TaskLimitsConfig.optional(),
    /** Absent: a 10 GiB cache and results of up to 10 GiB. */
    objects: ObjectsConfig.optional(),
  })
  .strict()
  .refine((c) => c.provider !== 'slurm' || c.slurm !== undefined, { message: 'provider: slurm needs a "slurm:" section (see README)', path: ['slurm'] });
export type EndpointConfig = z.infer<typeof EndpointConfig>;
export type EndpointConfigInput = z.input<typeof EndpointConfig>;

/** Reads and validates config.yaml; every problem comes back as one sentence naming the file. */
export async function loadEndpointConfig(paths: EndpointPaths): Promise<EndpointConfig> {
  let text: string;
  try {
    text = await readFile(paths.config, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ConfigError(`no endpoint is configured in ${paths.dir}; run "fx-endpoint configure" first`, { cause });
    }
    throw new ConfigError(`cannot read ${paths.config}: ${(cause as Error).message}`, { cause });
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (cause) {
    throw new ConfigError(`${paths.config} is not valid YAML: ${(cause as Error).message}`, { cause });
  }
  const parsed = EndpointConfig.safeParse(raw ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ');
    throw new ConfigError(`${paths.config} is invalid: ${problems}`, { cause: parsed.error });
  }
  return parsed.data;
}

export async function loadEndpointToken(paths: EndpointPaths): Promise<string> {
  try {
    const token = (await readFile(paths.token, 'utf8')).trim();
    if (token === '') throw new ConfigError(`${paths.token} is empty; run "fx-endpoint configure --force" to register again`);
    return token;
  } catch (cause) {
    if (cause instanceof ConfigError) throw cause;
    throw new ConfigError(`cannot read the endpoint token ${paths.token}: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Writes config.yaml and the token, both 0600, in a 0700 directory of this user's. A directory another
 * user owns (an FX_HOME in a shared place, made first by someone else) is refused: its owner could read
 * the token whatever its mode, or have left links where the files go.
 */
export async function writeEndpointFiles(paths: EndpointPaths, config: EndpointConfig, token: string): Promise<void> {
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  // the endpoint's dir, endpoints/ and FX_HOME: the owner of any of them could move the files' dir aside
  const me = process.getuid?.();
  for (const path of [paths.dir, dirname(paths.dir), dirname(dirname(paths.dir))]) {
    const dir = await lstat(path);
    if (!dir.isDirectory() || (me !== undefined && dir.uid !== me))
      throw new ConfigError(
        `${path} is ${dir.isDirectory() ? `a directory of another user (uid ${dir.uid})` : 'not a directory'}: the endpoint's token would not be private there; set FX_HOME to a directory of yours`,
      );
  }
  // mkdir's mode does not apply to a directory that already exists (configure --force).
  await chmod(paths.dir, 0o700);
  const header = '# fx-endpoint configuration; see "fx-endpoint --help". The token lives in ./token.\n';
  await writePrivate(paths.config, header + stringify(config));
  await writePrivate(paths.token, token + '\n');
}

/** A new 0600 file renamed over `path`: a link left at `path` is replaced, never written through. */
async function writePrivate(path: string, data: string): Promise<void> {
  const aside = `${path}.${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(aside, data, { mode: 0o600, flag: 'wx' });
    await rename(aside, path);
  } catch (error) {
    await rm(aside, { force: true });
    throw error;
  }
}
