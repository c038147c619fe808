import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { LogFormatSchema, LogLevelSchema, type LogFormat, type LogLevel } from '@fx/protocol';
import { ConfigError } from './config.errors.js';

const blankIsUnset = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);

const EnvSchema = z.object({
  /** Where endpoints keep their config, token, spool, pid and log. */
  FX_HOME: z.preprocess(blankIsUnset, z.string().optional()),
  /** A user token, for `delete` (and anything else that speaks REST as a user). */
  FX_TOKEN: z.preprocess(blankIsUnset, z.string().optional()),
  /** `debug` for chattier agent logs; the same vocabulary as the server's. */
  FX_LOG_LEVEL: z.preprocess(blankIsUnset, LogLevelSchema.default('info')),
  /** `json` or `pretty`; unset: pretty on a terminal, JSON elsewhere (endpoint.log). */
  FX_LOG_FORMAT: z.preprocess(blankIsUnset, LogFormatSchema.optional()),
});

export interface EndpointEnv {
  /** @default ~/.fx */
  readonly home: string;
  readonly userToken?: string;
  readonly logLevel: LogLevel;
  readonly logFormat?: LogFormat;
}

/** Parses the environment. The only place that reads process.env; everything else gets `env()`. */
export function parseEnv(source: NodeJS.ProcessEnv): EndpointEnv {
  const parsed = EnvSchema.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`environment variable ${String(issue?.path[0])} is invalid: ${issue?.message}`);
  }
  return Object.freeze({
    home: resolve(parsed.data.FX_HOME ?? join(homedir(), '.fx')),
    userToken: parsed.data.FX_TOKEN,
    logLevel: parsed.data.FX_LOG_LEVEL,
    ...(parsed.data.FX_LOG_FORMAT ? { logFormat: parsed.data.FX_LOG_FORMAT } : {}),
  });
}

let cached: EndpointEnv | undefined;

/** The process environment, parsed once. */
export function env(): EndpointEnv {
  cached ??= parseEnv(process.env);
  return cached;
}

/** Variables as a child process receives them. */
export type InheritedEnv = Readonly<Record<string, string | undefined>>;

/**
 * The environment the processes this agent starts inherit from (a detached agent; workers, through the
 * sandbox's filter). The live process environment rather than a copy: a variable a process takes out of
 * its own environment is not passed on either.
 */
export function inheritedEnv(): InheritedEnv {
  return process.env;
}

/**
 * The environment of a detached agent: the caller's, without the user token it may hold. The agent
 * speaks to the server with the endpoint's own token; the user's (which can do anything the user can)
 * would otherwise sit in the long-lived agent's /proc environ, one filter away from its children.
 */
export function detachedAgentEnv(): InheritedEnv {
  const { FX_TOKEN: _token, FX_TOKEN_FILE: _file, ...rest } = inheritedEnv();
  return rest;
}
