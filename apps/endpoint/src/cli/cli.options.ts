import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { ResourceName } from '@fx/protocol';
import { loadEndpointConfig, type EndpointConfig } from '../config/endpoint.config.js';
import { endpointPaths, type EndpointPaths } from '../config/endpoint.paths.js';
import type { CliContext } from './cli.context.js';
import { CliError } from '@fx/cli-kit';

/** Validates an endpoint name (it becomes a directory name, so this also keeps paths inside FX_HOME). */
export function checkName(name: string): string {
  const parsed = ResourceName.safeParse(name);
  if (!parsed.success) {
    throw new CliError(`"${name}" is not a valid endpoint name: ${parsed.error.issues[0]?.message ?? 'invalid'}`, 2);
  }
  return parsed.data;
}

/** The paths of an endpoint that must already be configured. */
export function existingEndpoint(context: CliContext, name: string): EndpointPaths {
  const paths = endpointPaths(context.env.home, checkName(name));
  if (!existsSync(paths.config)) {
    throw new CliError(
      `no endpoint named "${name}" is configured in ${context.env.home}; run "fx-endpoint configure ${name} --url … --token …" first (or "fx-endpoint list")`,
    );
  }
  return paths;
}

/** The paths and the saved config of an endpoint that must already be configured. */
export async function configuredEndpoint(context: CliContext, name: string): Promise<{ paths: EndpointPaths; config: EndpointConfig }> {
  const paths = existingEndpoint(context, name);
  return { paths, config: await loadEndpointConfig(paths) };
}

/** A subcommand that acts on one configured endpoint, named by its first argument. */
export function endpointCommand(program: Command, command: string, description: string): Command {
  return program.command(command).description(description).argument('<name>', 'endpoint name');
}
