import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { EndpointConfig } from '../../config/endpoint.config.js';
import { loadEndpointConfig, writeEndpointFiles } from '../../config/endpoint.config.js';
import { endpointPaths } from '../../config/endpoint.paths.js';
import type { CliContext } from '../cli.context.js';
import { CliError } from '@fx/cli-kit';
import { checkName } from '../cli.options.js';
import { parsePositiveInt } from '@fx/cli-kit';
import { runningPid } from '../process.control.js';
import { NO_TOKEN, readToken, withTokenOptions, type TokenOptions } from '../token.options.js';
import { deleteEndpoint, registerEndpoint, ServerRequestError } from '../server.client.js';

interface ConfigureOptions extends TokenOptions {
  url: string;
  workers?: number;
  force?: boolean;
}

export function configureConfigureCommand(program: Command, context: CliContext): void {
  withTokenOptions(program.command('configure'))
    .description('register a new endpoint with the server and write its config and token under $FX_HOME/endpoints/<name>')
    .argument('<name>', 'endpoint name (letters, digits, ".", "_", "-")')
    .requiredOption('--url <url>', 'the FX server, e.g. https://fx.example.org')
    .option('--workers <n>', `worker processes (default: CPU count, ${availableParallelism()} here)`, parsePositiveInt)
    .option(
      '--force',
      'replace an existing endpoint of this name: registers a new one, deregistering on the server the one this config registered if it still holds the name',
    )
    .action(async (rawName: string, options: ConfigureOptions) => {
      const name = checkName(rawName);
      const url = checkUrl(options.url);
      const token = readToken(options) ?? context.env.userToken;
      if (!token) throw new CliError(NO_TOKEN, 2);
      const paths = endpointPaths(context.env.home, name);
      if (existsSync(paths.config)) {
        if (!options.force) throw new CliError(`an endpoint named "${name}" already exists in ${paths.dir}; pass --force to replace it`);
        const pid = await runningPid(paths);
        if (pid !== undefined) throw new CliError(`endpoint "${name}" is running (pid ${pid}); stop it before replacing it`);
      }
      let registered;
      try {
        registered = await registerEndpoint(url, token, { name });
      } catch (error) {
        // Endpoint names are unique per owner on the server: --force replaces (deregisters) the endpoint
        // this machine's config registered under the name, and only that one.
        const previous =
          options.force && error instanceof ServerRequestError && error.status === 409 ? await loadEndpointConfig(paths).catch(() => undefined) : undefined;
        if (!previous || previous.url !== url) throw error;
        await deleteEndpoint(url, token, previous.endpointId).catch((e: unknown) => {
          if (!(e instanceof ServerRequestError && e.status === 404)) throw e;
        });
        registered = await registerEndpoint(url, token, { name });
      }
      const config = EndpointConfig.parse({
        url,
        endpointId: registered.endpoint.id,
        name,
        ...(options.workers === undefined ? {} : { workers: options.workers }),
      });
      await writeEndpointFiles(paths, config, registered.token);
      context.out(`Registered endpoint "${name}" (${registered.endpoint.id}); config in ${paths.config}.`);
      context.out(`Start it with: fx-endpoint start ${name} --detach`);
    });
}

/** The token from --token-file, from stdin (--token -), or --token itself. */
function checkUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return value.replace(/\/+$/, '');
  } catch {
    // reported below
  }
  throw new CliError(`--url must be an http:// or https:// URL, got "${value}"`, 2);
}
