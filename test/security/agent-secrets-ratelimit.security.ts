import { jest } from '@jest/globals';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { Client, RateLimitError } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually } from '@fx/testing';

/**
 * With real processes (the built server on PostgreSQL + Redis, a real fx-endpoint agent):
 *  - allowedFunctions is enforced at submit and again by the agent, which learns the list in `welcome`;
 *  - the agent refuses a function whose source does not match its registered content hash;
 *  - rate limits per token answer 429 with Retry-After, spare /healthz and the websocket hot path, and
 *    the SDK rides them out;
 *  - no token appears in any log, stored token material is hashed, token files are 0600.
 */
jest.setTimeout(240_000);

let server: ServerProcess;
let endpoint: EndpointProcess;
let client: Client;
let dbUrl: string;
const RATE = { FX_RATE_LIMIT_PER_SECOND: '20', FX_RATE_LIMIT_BURST: '40' };

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

/** Restarts the agent and waits until its new connection is online. */
async function restartAgent(): Promise<void> {
  const before = (await client.getEndpoint(endpoint.endpointId)).connectedAt;
  await endpoint.kill('SIGTERM');
  endpoint.start();
  await eventually(
    async () => {
      const e = await client.getEndpoint(endpoint.endpointId);
      return e.state === 'online' && e.connectedAt !== before;
    },
    30_000,
    'the agent back online',
  );
}

beforeAll(async () => {
  server = await ServerProcess.start('postgres+redis', {
    FX_LOG_LEVEL: 'debug',
    FX_HEARTBEAT_INTERVAL_MS: '500',
    FX_HEARTBEAT_TIMEOUT_MS: '3000',
    FX_SWEEP_INTERVAL_MS: '500',
    ...RATE,
  });
  dbUrl = server.env.DATABASE_URL!;
  endpoint = await EndpointProcess.configure(server, 'guarded', { workers: 2 });
  // the agent logs at debug level, so that the secrets check below reads everything it could say
  endpoint.env = { ...endpoint.env, FX_LOG_LEVEL: 'debug' };
  client = new Client({ url: server.url, token: server.adminToken });
});

afterAll(async () => {
  client?.close();
  await endpoint?.stop();
  await server?.stop();
});

describe('what an endpoint may run', () => {
  let allowed: string;
  let notAllowed: string;

  it('refuses a function not on allowedFunctions at submit (403 FUNCTION_NOT_ALLOWED)', async () => {
    allowed = await client.registerFunction((x: number) => x + 1, { name: 'allowed' });
    notAllowed = await client.registerFunction((x: number) => x * 100, { name: 'forbidden' });
    await sql(`UPDATE endpoints SET restricted = true, allowed_functions = $2::uuid[] WHERE id = $1::uuid`, [endpoint.endpointId, [allowed]]);
    endpoint.start();
    await eventually(async () => (await client.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online');
    const res = await fetch(`${server.url}/v1/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ functionId: notAllowed, endpointId: endpoint.endpointId, args: [1] }),
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 'FUNCTION_NOT_ALLOWED' });
    expect(await client.getResult(await client.run(allowed, endpoint.endpointId, [1]), { timeoutMs: 30_000 })).toBe(2);
  });

  it('and the agent refuses it too when the server lets it through', async () => {
    // The server-side list is widened behind the agent's back (as a compromised or buggy server
    // would): the agent still holds the list it was welcomed with, and refuses.
    await sql(`UPDATE endpoints SET allowed_functions = $2::uuid[] WHERE id = $1::uuid`, [endpoint.endpointId, [allowed, notAllowed]]);
    const taskId = await client.run(notAllowed, endpoint.endpointId, [1]);
    const task = await eventually(
      async () => {
        const t = await client.getTask(taskId);
        return t.status === 'failed' || t.status === 'success' ? t : undefined;
      },
      30_000,
      'the task to finish',
    );
    expect(task).toMatchObject({ status: 'failed', error: { code: 'FUNCTION_NOT_ALLOWED' } });
    expect(task.result).toBeUndefined();
    // unrestricted again; the agent learns that in its next welcome
    await sql(`UPDATE endpoints SET restricted = false, allowed_functions = '{}' WHERE id = $1::uuid`, [endpoint.endpointId]);
    await restartAgent();
  });

  it('the agent refuses a function whose source does not match its registered content hash', async () => {
    const honest = await client.registerFunction(() => 'honest', { name: 'honest' });
    // tampered in the database after registration: the hash no longer matches what would be run
    await sql(`UPDATE functions SET source = $2 WHERE id = $1::uuid`, [honest, '() => "evil"']);
    const taskId = await client.run(honest, endpoint.endpointId, []);
    const err = await client.getResult(taskId, { timeoutMs: 30_000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ remoteName: 'ContentHashMismatch' });
    const task = await client.getTask(taskId);
    expect(task).toMatchObject({ status: 'failed', error: { code: 'CONTENT_HASH_MISMATCH' } });
  });
});

describe('rate limits per token', () => {
  it('answers 429 with Retry-After past the burst, and never limits /healthz or /readyz', async () => {
    const token = (await client.createToken((await client.whoami()).user.id, { name: 'hammer' })).token;
    const statuses = await Promise.all(
      Array.from({ length: 80 }, () =>
        fetch(`${server.url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } }).then(async (r) => ({
          status: r.status,
          retryAfter: r.headers.get('retry-after'),
          body: await r.json(),
        })),
      ),
    );
    const limited = statuses.filter((s) => s.status === 429);
    console.log(
      `rate limit (${RATE.FX_RATE_LIMIT_PER_SECOND}/s, burst ${RATE.FX_RATE_LIMIT_BURST}): 80 requests at once → ${statuses.length - limited.length} × 200, ${limited.length} × 429 (Retry-After ${limited[0]?.retryAfter} s)`,
    );
    // 40 of burst, plus what refills while the 80 are under way
    expect(limited.length).toBeGreaterThanOrEqual(10);
    expect(statuses.filter((s) => s.status === 200).length).toBeGreaterThanOrEqual(40);
    for (const l of limited) {
      expect(Number(l.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(l.body).toMatchObject({ code: 'RATE_LIMITED' });
    }
    // another token of the same user has its own bucket
    expect((await fetch(`${server.url}/v1/whoami`, { headers: { authorization: `Bearer ${server.adminToken}` } })).status).toBe(200);
    const probes = await Promise.all(Array.from({ length: 200 }, (_, i) => fetch(`${server.url}/${i % 2 ? 'healthz' : 'readyz'}`).then((r) => r.status)));
    expect(probes.every((s) => s === 200)).toBe(true);
  });

  it('the SDK backs off on 429 (honouring Retry-After) and every call succeeds', async () => {
    const token = (await client.createToken((await client.whoami()).user.id, { name: 'sdk' })).token;
    let got429 = 0;
    const counting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (res.status === 429) got429++;
      return res;
    };
    const sdk = new Client({ url: server.url, token, fetch: counting, maxRetries: 20 });
    try {
      const fn = await sdk.registerFunction((x: number) => x * 3, { name: 'triple' });
      // The token's bucket starts empty (80 requests at once, as above), so the 100 submissions meet 429s
      // however slowly a loaded machine lets them through.
      await Promise.all(Array.from({ length: 80 }, () => fetch(`${server.url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } })));
      const ids = await Promise.all(Array.from({ length: 100 }, (_, i) => sdk.run(fn, endpoint.endpointId, [i])));
      expect(new Set(ids).size).toBe(100);
      // results ride the websocket: not rate limited, all 100 arrive
      expect(await sdk.getResults(ids, { timeoutMs: 60_000 })).toEqual(Array.from({ length: 100 }, (_, i) => i * 3));
      console.log(`SDK under a ${RATE.FX_RATE_LIMIT_PER_SECOND}/s limit: 100 submissions, ${got429} answered 429 and retried, all accepted`);
      expect(got429).toBeGreaterThan(0);
      // with retries off, the same limit surfaces as RateLimitError carrying retryAfterMs
      const impatient = new Client({ url: server.url, token, maxRetries: 0 });
      const errors = (
        await Promise.all(
          Array.from({ length: 80 }, () =>
            impatient.whoami().then(
              () => null,
              (e: unknown) => e,
            ),
          ),
        )
      ).filter(Boolean);
      impatient.close();
      expect(errors.length).toBeGreaterThan(0);
      expect(errors[0]).toBeInstanceOf(RateLimitError);
      expect((errors[0] as RateLimitError).retryAfterMs).toBeGreaterThanOrEqual(1000);
    } finally {
      sdk.close();
    }
  });
});

describe('secrets', () => {
  it('token files are 0600 and stored token material is hashed', async () => {
    const dataDir = server.dataDir.path;
    const mode = async (p: string) => (await stat(p)).mode & 0o777;
    const dir = join(endpoint.home.path, 'endpoints', 'guarded');
    const files = {
      'admin.token': join(dataDir, 'admin.token'),
      'signing.key': join(dataDir, 'signing.key'),
      'endpoint token': join(dir, 'token'),
      'config.yaml': join(dir, 'config.yaml'),
    };
    for (const [name, path] of Object.entries(files)) expect([name, (await mode(path)).toString(8)]).toEqual([name, '600']);
    expect((await mode(dir)).toString(8)).toBe('700');
    const endpointToken = (await readFile(files['endpoint token'], 'utf8')).trim();
    const dump = JSON.stringify(await sql(`SELECT * FROM tokens`));
    expect(dump).not.toContain(server.adminToken);
    expect(dump).not.toContain(endpointToken);
    expect(dump).not.toContain(server.adminToken.split('.')[2]);
    const hashes = await sql<{ hash: string }>(`SELECT hash FROM tokens`);
    expect(hashes.every((h) => /^[0-9a-f]{64}$/.test(h.hash))).toBe(true);
  });

  it("no token appears in the server's or the agent's logs (the admin token only in its one-time bootstrap line)", async () => {
    // exercise the noisy paths: refused tokens (REST and each channel), a restart, an agent reconnect
    for (const bad of [server.adminToken.slice(0, -2) + 'xx', 'garbage.token.here']) {
      await fetch(`${server.url}/v1/whoami`, { headers: { authorization: `Bearer ${bad}` } });
    }
    await endpoint.kill('SIGTERM');
    endpoint.start();
    await server.restart();
    await eventually(async () => (await client.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint back online');
    expect(
      await client.getResult(await client.run(await client.registerFunction(() => 7, { name: 'seven' }), endpoint.endpointId), { timeoutMs: 30_000 }),
    ).toBe(7);
    await endpoint.kill('SIGTERM');

    const dataDir = server.dataDir.path;
    const endpointToken = (await readFile(join(endpoint.home.path, 'endpoints', 'guarded', 'token'), 'utf8')).trim();
    const signingKey = (await readFile(join(dataDir, 'signing.key'), 'utf8')).trim();
    const serverLog = server.output.join('');
    const agentLog = endpoint.output.join('') + (await readFile(join(endpoint.home.path, 'endpoints', 'guarded', 'endpoint.log'), 'utf8').catch(() => ''));
    const bootstrap = serverLog.split('\n').filter((l) => l.includes(server.adminToken));
    // issue 2: the first start prints the admin token once for the operator; that line and no other
    expect(bootstrap).toHaveLength(1);
    expect(bootstrap[0]).toMatch(/^admin token \(also in .*admin\.token\): /);
    const secrets = {
      'endpoint token': endpointToken,
      'signing key': signingKey,
      'endpoint token signature': endpointToken.split('.')[2]!,
      'admin token signature (outside the bootstrap line)': server.adminToken.split('.')[2]!,
    };
    const serverLogWithoutBootstrap = serverLog
      .split('\n')
      .filter((l) => !bootstrap.includes(l))
      .join('\n');
    for (const [name, secret] of Object.entries(secrets)) {
      expect([name, serverLogWithoutBootstrap.includes(secret)]).toEqual([name, false]);
      expect([name, agentLog.includes(secret)]).toEqual([name, false]);
    }
    expect(agentLog.includes(server.adminToken)).toBe(false);
    console.log(`secrets: grepped ${serverLog.length} bytes of server log (debug) and ${agentLog.length} bytes of agent log (debug): no token, no key`);
  });
});
