import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually } from '@fx/testing';

/**
 * Configures an endpoint, merges `extra` into its config.yaml and starts its agent with the environment
 * `npm start` used to give it (the server's FX_DATA_DIR, DATABASE_URL, REDIS_URL, a signing key, a token).
 */
export async function startLeakyEndpoint(
  server: ServerProcess,
  name: string,
  extra: Record<string, unknown>,
  before?: (endpoint: EndpointProcess) => Promise<void>,
): Promise<EndpointProcess> {
  const endpoint = await EndpointProcess.configure(server, name, { workers: 1 });
  const file = join(endpoint.home.path, 'endpoints', name, 'config.yaml');
  const config = parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  await writeFile(file, stringify({ ...config, ...extra }), { mode: 0o600 });
  endpoint.env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    FX_HOME: endpoint.home.path,
    FX_DATA_DIR: server.dataDir.path,
    DATABASE_URL: 'postgres://postgres:db-password-secret@127.0.0.1:5432/fx',
    REDIS_URL: 'redis://:redis-password-secret@127.0.0.1:6379',
    FX_SIGNING_KEY: 'signing-key-secret',
    FX_TOKEN: server.adminToken,
  };
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
