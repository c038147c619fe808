import type { LogFormat, LogLevel } from '@fx/protocol';
import { env } from '../../config/env.js';

/** The variable a block's script sets for its workers (see block.script.ts); only they know its value. */
export const BLOCK_SECRET_VAR = 'FX_BLOCK_SECRET';

export interface BlockWorkerEnv {
  /** Proves to the agent that this worker belongs to its block; empty when unset. */
  readonly secret: string;
  readonly logLevel: LogLevel;
  readonly logFormat?: LogFormat;
}

/**
 * Takes the block secret out of `source`: read once, then deleted, because the tasks this worker starts
 * inherit its environment and the secret is not for their eyes.
 */
export function takeBlockSecret(source: NodeJS.ProcessEnv): string {
  const secret = source[BLOCK_SECRET_VAR] ?? '';
  delete source[BLOCK_SECRET_VAR];
  return secret;
}

let cached: BlockWorkerEnv | undefined;

/** The block worker's environment, read once: the only place it reads process.env besides config/env.ts. */
export function blockWorkerEnv(): BlockWorkerEnv {
  if (cached) return cached;
  const { logLevel, logFormat } = env();
  cached = Object.freeze({ secret: takeBlockSecret(process.env), logLevel, ...(logFormat ? { logFormat } : {}) });
  return cached;
}
