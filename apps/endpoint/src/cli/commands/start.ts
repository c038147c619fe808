import type { Command } from 'commander';
import { runAgentInForeground, startDetached } from '../agent.runner.js';
import type { CliContext } from '../cli.context.js';
import { endpointCommand, existingEndpoint } from '../cli.options.js';
import { parsePositiveNumber } from '@fx/cli-kit';

interface StartOptions {
  detach?: boolean;
  takeover?: boolean;
  timeout: number;
}

export function configureStartCommand(program: Command, context: CliContext): void {
  endpointCommand(program, 'start', 'run the endpoint agent (in the foreground unless --detach)')
    .option('--detach', 'run in the background; return once it has connected')
    .option('--takeover', 'replace the agent already serving this endpoint (elsewhere); it stops')
    .option('--timeout <seconds>', 'with --detach: how long to wait for the connection', parsePositiveNumber, 30)
    .action(async (name: string, options: StartOptions) => {
      const paths = existingEndpoint(context, name);
      if (options.detach) await startDetached(context, paths, name, options.timeout, options.takeover ?? false);
      else await runAgentInForeground(context, paths, { takeover: options.takeover ?? false });
    });
}
