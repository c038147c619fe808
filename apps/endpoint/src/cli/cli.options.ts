import { existsSync } from 'node:fs';
import { ResourceName } from '@fx/protocol';
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
