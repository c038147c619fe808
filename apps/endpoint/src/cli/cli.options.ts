import { existsSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { ResourceName } from '@fx/protocol';
import { endpointPaths, type EndpointPaths } from '../config/endpoint.paths.js';
import type { CliContext } from './cli.context.js';
import { CliError } from './cli.errors.js';

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number.');
  return n;
}

export function parsePositiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number.');
  return n;
}

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
