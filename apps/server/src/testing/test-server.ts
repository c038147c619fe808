import { cleanupRedisPrefix, createTestDatabase, randomPrefix, tempDir, testRedisUrl, type TestDatabase, type TempDir } from '@fx/testing';
import { loadConfig } from '../config/env.js';
import { startServer, type RunningServer } from '../server.js';

export type Backend = 'postgres+redis' | 'embedded';
export const BACKENDS: Backend[] = ['postgres+redis', 'embedded'];

export interface TestServer extends RunningServer {
  adminToken: string;
  backend: Backend;
  dataDir: string;
  redisPrefix: string;
  stop(): Promise<void>;
}

/**
 * A real server in this process on a real backend: a fresh PostgreSQL database and a random Redis
 * prefix, or PGlite and the in-process broker in a temp dir. Everything is removed by stop().
 */
export async function startTestServer(backend: Backend, env: Record<string, string> = {}): Promise<TestServer> {
  const dir: TempDir = await tempDir('fx-server');
  let db: TestDatabase | undefined;
  const prefix = randomPrefix();
  if (backend === 'postgres+redis') db = await createTestDatabase();
  const config = loadConfig({
    PORT: '0',
    FX_DATA_DIR: dir.path,
    FX_LOG_LEVEL: 'warn',
    FX_REDIS_PREFIX: prefix,
    ...(db ? { DATABASE_URL: db.url, REDIS_URL: testRedisUrl(), DATABASE_POOL_SIZE: '4' } : {}),
    ...env,
  });
  const server = await startServer(config);
  if (!server.adminToken) throw new Error('a fresh test server must create its admin token');
  return {
    ...server,
    adminToken: server.adminToken,
    backend,
    dataDir: dir.path,
    redisPrefix: prefix,
    async stop() {
      await server.close();
      if (db) {
        await db.drop();
        await cleanupRedisPrefix(testRedisUrl(), prefix);
      }
      await dir.remove();
    },
  };
}

/** A small REST caller for tests: returns status and parsed body, never throws on HTTP errors. */
export function rest(baseUrl: string, token?: string) {
  return async <T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> => {
    const res = await fetch(baseUrl + path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    // JSON bodies parsed; a text body (GET /metrics, JSON lines) as it came
    const json = text && /[/+]json\s*(;|$)/.test(res.headers.get('content-type') ?? 'application/json');
    return { status: res.status, body: (json ? JSON.parse(text) : text || undefined) as T };
  };
}

/** New users of a test server, made by its admin over REST: a token of each (named `main`), in the order named. */
export async function userTokens(server: TestServer, names: string[]): Promise<string[]> {
  const admin = rest(server.url, server.adminToken);
  const tokens: string[] = [];
  for (const name of names) {
    const u = await admin('POST', '/v1/users', { name });
    tokens.push((await admin('POST', `/v1/users/${u.body.id}/tokens`, { name: 'main' })).body.token);
  }
  return tokens;
}
