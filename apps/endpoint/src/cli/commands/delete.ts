import { rm } from 'node:fs/promises';
import type { Command } from 'commander';
import type { CliContext } from '../cli.context.js';
import { CliError } from '@fx/cli-kit';
import { configuredEndpoint, endpointCommand } from '../cli.options.js';
import { ServerRequestError, deleteEndpoint } from '../server.client.js';
import { stopEndpoint } from './stop.js';
import { NO_TOKEN, readToken, withTokenOptions, type TokenOptions } from '../token.options.js';

export function configureDeleteCommand(program: Command, context: CliContext): void {
  withTokenOptions(endpointCommand(program, 'delete', 'delete the endpoint on the server, stop its agent, and remove its local directory')).action(
    async (name: string, options: TokenOptions) => {
      const { paths, config } = await configuredEndpoint(context, name);
      const token = readToken(options) ?? context.env.userToken;
      if (!token) throw new CliError(NO_TOKEN, 2);
      try {
        await deleteEndpoint(config.url, token, config.endpointId);
      } catch (error) {
        if (!(error instanceof ServerRequestError && error.status === 404)) throw error;
        context.err(`The server does not know endpoint ${config.endpointId} (already deleted?); removing the local files.`);
      }
      // The endpoint is gone server-side, so there is nobody to drain results to: kill rather than drain.
      await stopEndpoint(context, paths, name, { force: true });
      await rm(paths.dir, { recursive: true, force: true });
      context.out(`Endpoint "${name}" deleted.`);
    },
  );
}
