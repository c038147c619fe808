import { existsSync, readFileSync } from 'node:fs';
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
import { deleteEndpoint, registerEndpoint, ServerRequestError } from '../server.client.js';

interface ConfigureOptions {
  url: string;
  token?: string;
  tokenFile?: string;
  workers?: number;
  force?: boolean;
}

export function configureConfigureCommand(program: Command, context: CliContext): void {
  program
    .command('configure')
    .description('register a new endpoint with the server and write its config and token under $FX_HOME/endpoints/<name>')
    .argument('<name>', 'endpoint name (letters, digits, ".", "_", "-")')
    .requiredOption('--url <url>', 'the FX server, e.g. https://fx.example.org')
    .option(
      '--token <token>',
      'a user token; "-" reads it from stdin. A token given here is visible to other users of this machine in the process list: prefer --token-file, "-" or $FX_TOKEN',
    )
    .option('--token-file <path>', 'read the user token from this file')
    .option('--workers <n>', `worker processes (default: CPU count, ${availableParallelism()} here)`, parsePositiveInt)
    .option(
      '--force',
      'replace an existing endpoint of this name: registers a new one, deregistering on the server the one this config registered if it still holds the name',
    )
    .action(async (rawName: string, options: ConfigureOptions) => {
      const name = checkName(rawName);
      const url = checkUrl(options.url);
      const token = readToken(options) ?? context.env.userToken;
      if (!token) throw new CliError('a user token is needed: pass --token-file, --token - (stdin) or set FX_TOKEN', 2);
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
function readToken(options: ConfigureOptions): string | undefined {
  if (options.tokenFile !== undefined && options.token !== undefined) throw new CliError('pass either --token or --token-file, not both', 2);
  let source: string | undefined;
  try {
    if (options.tokenFile !== undefined) source = readFileSync(options.tokenFile, 'utf8');
    else if (options.token === '-') source = readFileSync(0, 'utf8');
    else return options.token;
  } catch (error) {
    throw new CliError(`cannot read the token from ${options.tokenFile ?? 'stdin'}: ${(error as Error).message}`, 2);
  }
  const token = source.trim();
  if (token === '') throw new CliError(`no token in ${options.tokenFile ?? 'stdin'}`, 2);
  return token;
}

function checkUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return value.replace(/\/+$/, '');
  } catch {
    // reported below
  }
  throw new CliError(`--url must be an http:// or https:// URL, got "${value}"`, 2);
}
