import { homedir } from 'node:os';
import { join } from 'node:path';
import { resolveAccelerators } from '../accelerators/accelerators.js';
import type { Logger } from '../agent/logger.js';
import type { EndpointConfig } from '../config/endpoint.config.js';
import type { EndpointPaths } from '../config/endpoint.paths.js';
import { inheritedEnv } from '../config/env.js';
import { taskMemoryBytes } from '../config/task-limits.js';
import { parseWalltime } from '../config/walltime.js';
import { PinnedLocalProvider } from './gpu/pinned-local.provider.js';
import { LocalProvider, type LocalProviderOptions } from './local/local.provider.js';
import type { Provider } from './provider.js';
import { WorkerSandbox } from './sandbox/worker.sandbox.js';
import { SlurmProvider } from './slurm/slurm.provider.js';

/**
 * Resolves config.yaml's `sandbox:` (absent: `auto` for local, `none` for slurm, whose block workers
 * scrub the environment themselves) and says in the log what tasks will run under. Throws SandboxError
 * when `bwrap` is asked for and does not work.
 */
export function resolveSandbox(config: EndpointConfig, fxHome: string, logger: Logger): WorkerSandbox {
  const sandbox = WorkerSandbox.resolve(config.sandbox ?? (config.provider === 'slurm' ? 'none' : 'auto'), {
    hide: [fxHome, homedir(), ...(config.sandboxHide ?? [])],
    show: config.sandboxShow ?? [],
    environment: inheritedEnv(),
    ...(config.sandboxNetwork === false ? { network: false } : {}),
    ...(config.sandboxUserNamespaces === true ? { userNamespaces: true } : {}),
    ...(config.sandboxMaxProcesses !== undefined ? { maxProcesses: config.sandboxMaxProcesses } : {}),
  });
  if (sandbox.note) logger.warn(sandbox.note);
  else {
    const limit = sandbox.processLimit;
    logger.info(
      `tasks run ${sandbox.kind === 'bwrap' ? `under bubblewrap${config.sandboxNetwork === false ? ', without network' : ''}` : sandbox.kind === 'uid' ? 'as unprivileged users, a uid of their own per worker and shell task' : 'without a sandbox'}; ${'max' in limit ? `each worker and shell task with at most ${limit.max} processes and threads` : `their processes are not counted apart (${limit.unbounded})`}`,
    );
  }
  if (sandbox.reported === 'bwrap-userns')
    logger.warn(
      config.sandboxUserNamespaces === true
        ? "tasks may make user namespaces (sandboxUserNamespaces: true), in which a task can read past the modes of the agent's files: this endpoint runs only its owner's tasks"
        : "bubblewrap here cannot keep tasks from making user namespaces (--disable-userns needs bubblewrap 0.8), in which a task can read past the modes of the agent's files: this endpoint runs only its owner's tasks until bubblewrap is upgraded",
    );
  return sandbox;
}

/** Picks the provider config.yaml names: local (pinned to accelerators when it lists any) or slurm. */
export async function createProvider(config: EndpointConfig, paths: EndpointPaths, logger: Logger, sandbox: WorkerSandbox): Promise<Provider> {
  if (config.provider === 'slurm' && config.slurm) {
    const s = config.slurm;
    return new SlurmProvider({
      endpointName: config.name,
      endpointId: config.endpointId,
      settings: { ...s, walltimeSeconds: parseWalltime(s.walltime) as number },
      ...(config.accelerators !== undefined ? { accelerators: config.accelerators } : {}),
      blocksDir: join(paths.dir, 'blocks'),
      resultsDir: join(paths.objects, 'incoming'),
      shellOutputLines: config.shellOutputLines,
      ...(config.python !== undefined ? { python: config.python } : {}),
      logger,
    });
  }
  const local = {
    workers: config.workers,
    shellOutputLines: config.shellOutputLines,
    ...(config.python !== undefined ? { python: config.python } : {}),
    sandbox,
    taskLimits: config.taskLimits,
    logger,
  };
  if (config.accelerators !== undefined) {
    // On the login node of a cluster `auto` would find the login node's GPUs; for local it is this machine.
    const found = await resolveAccelerators(config.accelerators);
    logger.info(found.note);
    if (found.devices.length > 0) {
      if (found.devices.length !== config.workers)
        logger.info(`pinning: ${found.devices.length} workers, one per accelerator (workers: ${config.workers} is ignored)`);
      return new PinnedLocalProvider({
        devices: found.devices,
        acceleratorNote: found.note,
        shellOutputLines: local.shellOutputLines,
        ...(config.python !== undefined ? { python: config.python } : {}),
        sandbox,
        memoryBytes: taskMemoryBytes(config.taskLimits),
        logger,
      });
    }
    return new NotedLocalProvider(local, found.note);
  }
  return new LocalProvider(local);
}

/** The plain local provider, with the accelerator note (why nothing is pinned) in its status. */
class NotedLocalProvider extends LocalProvider {
  constructor(
    options: LocalProviderOptions,
    private readonly note: string,
  ) {
    super(options);
  }
  override status() {
    return { ...super.status(), acceleratorNote: this.note };
  }
}
