import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EndpointAgent } from '../agent/endpoint.agent.js';
import { createConsoleLogger } from '../agent/logger.js';
import { TaskLines } from '../agent/task.lines.js';
import { readStatusFile } from '../agent/status.file.js';
import { loadEndpointConfig, loadEndpointToken, type EndpointConfig } from '../config/endpoint.config.js';
import { defaultStageDir, type EndpointObjectsOptions } from '../objects/endpoint.objects.js';
import type { EndpointPaths } from '../config/endpoint.paths.js';
import { detachedAgentEnv } from '../config/env.js';
import { createProvider, resolveSandbox } from '../providers/provider.factory.js';
import { SandboxError, type WorkerSandbox } from '../providers/sandbox/worker.sandbox.js';
import type { CliContext } from './cli.context.js';
import { CliError } from '@fx/cli-kit';
import { isAlive, removePid, runningPid, tailFile, writePid } from './process.control.js';

/** Runs the agent in this process until it stops; rejects (CliError) when it ends FAILED. */
export async function runAgentInForeground(context: CliContext, paths: EndpointPaths, opts: { takeover?: boolean } = {}): Promise<void> {
  const config = await loadEndpointConfig(paths);
  const token = await loadEndpointToken(paths);
  const other = await runningPid(paths);
  if (other !== undefined) throw new CliError(`endpoint "${config.name}" is already running (pid ${other})`);
  await mkdir(paths.work, { recursive: true, mode: 0o700 });
  // FX_HOME holds every endpoint's token: private, whatever it was before (tasks running under their own uids rely on it).
  await chmod(context.env.home, 0o700);
  await writePid(paths, process.pid);

  // one tap for the agent and its provider: their lines about a task also go on the task's stream
  const taskLines = new TaskLines(config.taskLogLevel);
  const logger = taskLines.logger(createConsoleLogger(context.env.logLevel, { format: context.env.logFormat }).child({ endpointId: config.endpointId }));
  let sandbox: WorkerSandbox;
  try {
    sandbox = resolveSandbox(config, context.env.home, logger);
  } catch (error) {
    await removePid(paths, process.pid);
    if (error instanceof SandboxError) throw new CliError(error.message);
    throw error;
  }
  const objects = await objectsOptions(config, paths, sandbox);
  if (objects.stageDir) sandbox = sandbox.showing([objects.stageDir]);
  const provider = await createProvider(config, paths, logger, sandbox);
  const agent = new EndpointAgent({
    url: config.url,
    token,
    name: config.name,
    endpointId: config.endpointId,
    provider,
    spoolDir: paths.spool,
    objects,
    statusFile: paths.status,
    reconnect: config.reconnect,
    drainTimeoutSeconds: config.drainTimeoutSeconds,
    prefetch: config.prefetch,
    taskLimits: config.taskLimits,
    maxTaskLogChars: Math.round(config.maxTaskLogMB * 1024 * 1024),
    logger,
    taskLines,
    takeover: opts.takeover ?? false,
  });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      logger.info(`${signal}: draining (send it again to stop at once)`);
      void agent.stop();
    } else {
      // Asked for twice: a deliberate stop, not trouble (the abandoned tasks are reported when dropped).
      logger.info(`${signal} again: stopping without waiting for running tasks`);
      void agent.stop({ force: true });
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  logger.info(`starting endpoint "${config.name}" (${config.endpointId}) with ${config.workers} workers, pid ${process.pid}`);
  try {
    await agent.start();
  } catch {
    // The agent has logged the reason and ended in FAILED.
  }
  const final = await agent.done;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  await removePid(paths, process.pid);
  if (final === 'FAILED') throw new CliError(`endpoint "${config.name}" failed: ${agent.snapshot().lastError ?? 'see the log above'}`);
  logger.info(`endpoint "${config.name}" stopped`);
}

/**
 * Where the agent keeps objects and where its workers read them. Block workers on Slurm read the cache
 * itself (no stage): FX assumes the endpoint's directory lies on a filesystem the compute nodes share,
 * as it does for the block scripts and the worker programs. Workers run under uids of their own cannot pass FX_HOME
 * (0700), so their stage is a fresh directory under the OS temp dir; others read it under FX_HOME,
 * beside the cache (hard links, no copies), shown to bubblewrap read-only.
 */
async function objectsOptions(config: EndpointConfig, paths: EndpointPaths, sandbox: WorkerSandbox): Promise<EndpointObjectsOptions> {
  const limits = config.objects;
  const mb = 1024 * 1024;
  const common = {
    dir: paths.objects,
    ...(limits ? { cacheBytes: limits.cacheMB * mb, maxResultBytes: limits.maxResultMB * mb } : {}),
  };
  if (config.provider === 'slurm') return { ...common, stageDir: null };
  if (sandbox.kind === 'uid') return { ...common, stageDir: await mkdtemp(join(tmpdir(), 'fx-stage-')) };
  return { ...common, stageDir: defaultStageDir(paths.objects) };
}

/**
 * Starts the agent as a background process (its own session, output appended to endpoint.log) and waits
 * until it reports a welcomed connection in status.json.
 */
export async function startDetached(context: CliContext, paths: EndpointPaths, name: string, timeoutSeconds: number, takeover = false): Promise<void> {
  await loadEndpointConfig(paths);
  const other = await runningPid(paths);
  if (other !== undefined) throw new CliError(`endpoint "${name}" is already running (pid ${other})`);
  const log = await open(paths.log, 'a', 0o600);
  const [command, ...args] = context.selfCommand;
  const child = spawn(command as string, [...args, 'start', name, ...(takeover ? ['--takeover'] : [])], {
    detached: true,
    stdio: ['ignore', log.fd, log.fd],
    env: detachedAgentEnv(),
  });
  await log.close();
  const pid = child.pid;
  if (pid === undefined) throw new CliError(`could not start the agent process; see ${paths.log}`);
  let exitCode: number | null = null;
  child.on('exit', (code, signal) => (exitCode = code ?? (signal ? 128 : 1)));
  child.unref();
  await writePid(paths, pid);

  const deadline = Date.now() + timeoutSeconds * 1000;
  while (Date.now() < deadline) {
    const status = await readStatusFile(paths.status);
    if (status?.pid === pid && status.state === 'RUNNING') {
      context.out(`Endpoint "${name}" is running (pid ${pid}) and connected; log in ${paths.log}.`);
      return;
    }
    if (exitCode !== null || !isAlive(pid) || (status?.pid === pid && status.state === 'FAILED')) {
      const tail = await tailFile(paths.log);
      throw new CliError(`endpoint "${name}" did not start${status?.lastError ? `: ${status.lastError}` : ''}. Last lines of ${paths.log}:\n${tail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const status = await readStatusFile(paths.status);
  const tail = await tailFile(paths.log);
  throw new CliError(
    `endpoint "${name}" did not connect within ${timeoutSeconds} s${status?.lastError ? ` (${status.lastError})` : ''}; ` +
      `it keeps trying in the background (pid ${pid}; "fx-endpoint stop ${name}" ends it). Last lines of ${paths.log}:\n${tail}`,
  );
}
