import { availableParallelism } from 'node:os';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { ResourceName, Uuid } from '@fx/protocol';
import { ConfigError } from './config.errors.js';
import type { EndpointPaths } from './endpoint.paths.js';

const httpUrl = z
  .string()
  .refine((value) => {
    try {
      const url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL');

export const ReconnectConfig = z
  .object({
    initialDelayMs: z.number().int().positive().default(250),
    maxDelayMs: z.number().int().positive().default(10_000),
  })
  .strict()
  .refine((r) => r.maxDelayMs >= r.initialDelayMs, { message: 'maxDelayMs must be at least initialDelayMs' });

/** `$FX_HOME/endpoints/<name>/config.yaml`. */
export const EndpointConfig = z
  .object({
    url: httpUrl,
    endpointId: Uuid,
    name: ResourceName,
    workers: z.number().int().min(1).max(4096).default(() => availableParallelism()),
    provider: z.literal('local').default('local'),
    shellOutputLines: z.number().int().min(1).max(1_000_000).default(1000),
    /** Extra tasks to hold beyond free workers; absent means as many as there are workers. */
    prefetch: z.number().int().min(0).max(100_000).optional(),
    reconnect: ReconnectConfig.default({ initialDelayMs: 250, maxDelayMs: 10_000 }),
    drainTimeoutSeconds: z.number().positive().max(7 * 24 * 3600).default(30),
  })
  .strict();
export type EndpointConfig = z.infer<typeof EndpointConfig>;
export type EndpointConfigInput = z.input<typeof EndpointConfig>;

/** Reads and validates config.yaml; every problem comes back as one sentence naming the file. */
export async function loadEndpointConfig(paths: EndpointPaths): Promise<EndpointConfig> {
  let text: string;
  try {
    text = await readFile(paths.config, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ConfigError(`no endpoint is configured in ${paths.dir}; run "fx-endpoint configure" first`, { cause });
    }
    throw new ConfigError(`cannot read ${paths.config}: ${(cause as Error).message}`, { cause });
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (cause) {
    throw new ConfigError(`${paths.config} is not valid YAML: ${(cause as Error).message}`, { cause });
  }
  const parsed = EndpointConfig.safeParse(raw ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ');
    throw new ConfigError(`${paths.config} is invalid: ${problems}`, { cause: parsed.error });
  }
  return parsed.data;
}

export async function loadEndpointToken(paths: EndpointPaths): Promise<string> {
  try {
    const token = (await readFile(paths.token, 'utf8')).trim();
    if (token === '') throw new ConfigError(`${paths.token} is empty; run "fx-endpoint configure --force" to register again`);
    return token;
  } catch (cause) {
    if (cause instanceof ConfigError) throw cause;
    throw new ConfigError(`cannot read the endpoint token ${paths.token}: ${(cause as Error).message}`, { cause });
  }
}

/** Writes config.yaml and the token, both 0600, in a 0700 directory. */
export async function writeEndpointFiles(paths: EndpointPaths, config: EndpointConfig, token: string): Promise<void> {
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  // mkdir's mode does not apply to a directory that already exists (configure --force).
  await chmod(paths.dir, 0o700);
  const header = '# fx-endpoint configuration; see "fx-endpoint --help". The token lives in ./token.\n';
  await writeFile(paths.config, header + stringify(config), { mode: 0o600 });
  await chmod(paths.config, 0o600);
  await writeFile(paths.token, token + '\n', { mode: 0o600 });
  await chmod(paths.token, 0o600);
}
