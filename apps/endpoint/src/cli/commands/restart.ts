import type { Command } from 'commander';
import { startDetached } from '../agent.runner.js';
import type { CliContext } from '../cli.context.js';
import { endpointCommand, existingEndpoint } from '../cli.options.js';
import { parsePositiveNumber } from '@fx/cli-kit';
import { stopEndpoint } from './stop.js';

interface RestartOptions {
  force?: boolean;
  timeout: number;
}

export function configureRestartCommand(program: Command, context: CliContext): void {
  endpointCommand(program, 'restart', 'stop the endpoint if it runs, then start it in the background')
    .option('--force', 'kill instead of draining')
    .option('--timeout <seconds>', 'how long to wait for the new agent to connect', parsePositiveNumber, 30)
    .action(async (name: string, options: RestartOptions) => {
      const paths = existingEndpoint(context, name);
      await stopEndpoint(context, paths, name, { force: options.force });
      await startDetached(context, paths, name, options.timeout);
    });
}
