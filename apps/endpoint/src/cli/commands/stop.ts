import type { Command } from 'commander';
import { loadEndpointConfig } from '../../config/endpoint.config.js';
import type { EndpointPaths } from '../../config/endpoint.paths.js';
import type { CliContext } from '../cli.context.js';
import { CliError } from '@fx/cli-kit';
import { endpointCommand, existingEndpoint } from '../cli.options.js';
import { parsePositiveNumber } from '@fx/cli-kit';
import { killAgentTree, removePid, runningPid, waitForExit } from '../process.control.js';

interface StopOptions {
  force?: boolean;
  timeout?: number;
}

export function configureStopCommand(program: Command, context: CliContext): void {
  endpointCommand(program, 'stop', 'stop a running endpoint: drain (running tasks finish, results are delivered), or --force')
    .option('--force', 'kill the agent and its workers at once (their tasks are handed out again by the server)')
    .option('--timeout <seconds>', 'how long to wait for a graceful stop (default: drainTimeoutSeconds + 15)', parsePositiveNumber)
    .action(async (name: string, options: StopOptions) => {
      const paths = existingEndpoint(context, name);
      const stopped = await stopEndpoint(context, paths, name, options);
      if (!stopped) context.out(`Endpoint "${name}" is not running.`);
    });
}

/** Stops the agent if it runs; resolves whether it was running. */
export async function stopEndpoint(context: CliContext, paths: EndpointPaths, name: string, options: StopOptions): Promise<boolean> {
  const pid = await runningPid(paths);
  if (pid === undefined) return false;
  if (options.force) {
    await killAgentTree(paths, pid);
    await waitForExit(pid, 5000);
    await removePid(paths, pid);
    context.out(`Endpoint "${name}" (pid ${pid}) killed.`);
    return true;
  }
  const config = await loadEndpointConfig(paths);
  const timeoutMs = (options.timeout ?? config.drainTimeoutSeconds + 15) * 1000;
  process.kill(pid, 'SIGTERM');
  context.out(`Stopping endpoint "${name}" (pid ${pid}); running tasks may take up to ${config.drainTimeoutSeconds} s to finish…`);
  if (!(await waitForExit(pid, timeoutMs))) {
    throw new CliError(`endpoint "${name}" (pid ${pid}) did not stop within ${Math.round(timeoutMs / 1000)} s; "fx-endpoint stop ${name} --force" kills it`);
  }
  await removePid(paths, pid);
  context.out(`Endpoint "${name}" stopped.`);
  return true;
}
