import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** What the command line takes from the environment. */
export interface CliEnv {
  /** Where credentials.json lives (shared with fx-endpoint's endpoints/). @default ~/.fx */
  readonly home: string;
  /** Overrides the saved server url. */
  readonly url?: string;
  /** Overrides the saved token. */
  readonly token?: string;
}

const set = (value: string | undefined) => (value === undefined || value.trim() === '' ? undefined : value.trim());

/** Parses an environment. The only place that reads process.env is `env()` below. */
export function parseEnv(source: Record<string, string | undefined>): CliEnv {
  const url = set(source.FX_URL);
  const token = set(source.FX_TOKEN);
  return Object.freeze({
    home: resolve(set(source.FX_HOME) ?? join(homedir(), '.fx')),
    ...(url === undefined ? {} : { url }),
    ...(token === undefined ? {} : { token }),
  });
}

let cached: CliEnv | undefined;

/** The process environment, parsed once. */
export function env(): CliEnv {
  cached ??= parseEnv(process.env);
  return cached;
}
