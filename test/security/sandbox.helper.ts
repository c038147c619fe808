import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually } from '../e2e/harness.js';

/** The server's data dir (admin.token, signing.key): private to the harness, read for the attacks here. */
export function dataDirOf(server: ServerProcess): string {
  return (server as unknown as { dataDir: { path: string } }).dataDir.path;
}

/**
 * Configures an endpoint, merges `extra` into its config.yaml and starts its agent with the environment
 * `npm start` used to give it (the server's FX_DATA_DIR, DATABASE_URL, REDIS_URL, a signing key, a token).
 */
export async function startLeakyEndpoint(server: ServerProcess, name: string, extra: Record<string, unknown>, before?: (endpoint: EndpointProcess) => Promise<void>): Promise<EndpointProcess> {
  const endpoint = await EndpointProcess.configure(server, name, { workers: 1 });
  const file = join(endpoint.home.path, 'endpoints', name, 'config.yaml');
  const config = parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  await writeFile(file, stringify({ ...config, ...extra }), { mode: 0o600 });
  const home = endpoint.home.path;
  const leaky = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    FX_HOME: home,
    FX_DATA_DIR: dataDirOf(server),
    DATABASE_URL: 'postgres://postgres:db-password-secret@127.0.0.1:5432/fx',
    REDIS_URL: 'redis://:redis-password-secret@127.0.0.1:6379',
    FX_SIGNING_KEY: 'signing-key-secret',
    FX_TOKEN: server.adminToken,
  };
  Object.defineProperty(endpoint, 'env', { get: () => leaky });
  await before?.(endpoint);
  endpoint.start();
  const client = new Client({ url: server.url, token: server.adminToken });
  try {
    await eventually(async () => (await client.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, `endpoint ${name} online`);
  } finally {
    client.close();
  }
  return endpoint;
}
