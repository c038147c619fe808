import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './config.errors.js';

const blankIsUnset = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);

const EnvSchema = z.object({
  /** Where endpoints keep their config, token, spool, pid and log. */
  FX_HOME: z.preprocess(blankIsUnset, z.string().optional()),
  /** A user token, for `delete` (and anything else that speaks REST as a user). */
  FX_TOKEN: z.preprocess(blankIsUnset, z.string().optional()),
  /** `debug` for chattier agent logs. */
  FX_LOG_LEVEL: z.preprocess(blankIsUnset, z.enum(['debug', 'info', 'warn', 'error']).default('info')),
});

export interface EndpointEnv {
  /** @default ~/.fx */
  readonly home: string;
  readonly userToken?: string;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
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
  });
}

let cached: EndpointEnv | undefined;

/** The process environment, parsed once. */
export function env(): EndpointEnv {
  cached ??= parseEnv(process.env);
  return cached;
}
