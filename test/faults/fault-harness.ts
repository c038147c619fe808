import { execFileSync, spawnSync } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { Redis } from 'ioredis';
import { Client } from '@fx/sdk';
import {
  EndpointProcess,
  ServerProcess,
  cleanupRedisPrefix,
  createTestDatabase,
  eventually,
  freePort,
  randomPrefix,
  sleep,
  testRedisUrl,
  type ServerAddress,
  type TestDatabase,
} from '@fx/testing';

/**
 * Fault-injection fixtures: real server processes (apps/server/dist), real `fx-endpoint` processes
 * (apps/endpoint/dist), both started by the @fx/testing process fixtures, and the real local PostgreSQL
 * and Redis, which some scenarios restart. Everything here is built so that a failing scenario still
 * brings the services back.
 */
export { eventually, sleep };

// ---- the real local services ---------------------------------------------------------------------

function pgCluster(): string {
  return readdirSync('/etc/postgresql')
    .sort((a, b) => Number(a) - Number(b))
    .at(-1)!;
}

function pgctl(action: 'start' | 'stop' | 'restart'): void {
  execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', pgCluster(), 'main', action], { stdio: 'pipe', timeout: 60_000 });
}

export async function postgresReady(): Promise<boolean> {
  return spawnSync('pg_isready', ['-q', '-h', '127.0.0.1', '-p', '5432']).status === 0;
}

/** Stops PostgreSQL; `ensurePostgres` (always called in a finally) starts it again. */
export function stopPostgres(): void {
  pgctl('stop');
}

export async function ensurePostgres(): Promise<void> {
  if (!(await postgresReady())) {
    try {
      pgctl('start');
    } catch {
      /* already starting */
    }
  }
  for (let i = 0; i < 120 && !(await postgresReady()); i++) await sleep(250);
  if (!(await postgresReady())) throw new Error('PostgreSQL did not come back');
}

function redisPing(): boolean {
  return spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG';
}

/** Stops Redis without saving (its data is gone, as after a crash without persistence). */
export function stopRedis(): void {
  spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'shutdown', 'nosave'], { stdio: 'pipe' });
}

export async function ensureRedis(): Promise<void> {
  if (!redisPing()) {
    spawnSync(
      'redis-server',
      [
        '--daemonize',
        'yes',
        '--bind',
        '127.0.0.1',
        '-::1',
        '--port',
        '6379',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        '/var/lib/redis',
        '--logfile',
        '/var/log/redis/ci.log',
      ],
      { stdio: 'pipe' },
    );
  }
  for (let i = 0; i < 120 && !redisPing(); i++) await sleep(250);
  if (!redisPing()) throw new Error('Redis did not come back');
}

/** Deletes every key under one prefix: what FLUSHALL does to one server's state, without touching others'. */
export function deletePrefix(prefix: string): Promise<number> {
  return cleanupRedisPrefix(testRedisUrl(), prefix);
}

export async function flushAll(): Promise<void> {
  const redis = new Redis(testRedisUrl());
  try {
    await redis.flushall();
  } finally {
    redis.disconnect();
  }
}

// ---- a TCP proxy between the agent and the server --------------------------------------------------

/**
 * Forwards the agent's connections to a server. `blackhole()` freezes the connections open now: no
 * byte passes either way and nobody sees a FIN or RST, as when a NAT or a firewall silently drops a
 * flow. `retarget()` sends new connections to another server (and cuts the old ones).
 */
export class TcpProxy {
  private readonly pairs = new Set<{ a: Socket; b: Socket; frozen: boolean }>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private target: number,
  ) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    const port = await freePort();
    // The callback runs only once the server accepts a connection, after proxy is defined.
    const server = createServer((a) => proxy.accept(a));
    const proxy = new TcpProxy(server, port, targetPort);
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private accept(a: Socket): void {
    const b = connect(this.target, '127.0.0.1');
    const pair = { a, b, frozen: false };
    this.pairs.add(pair);
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (d) => {
        if (!pair.frozen) to.write(d);
      });
    forward(a, b);
    forward(b, a);
    const end = () => {
      if (pair.frozen) return; // a frozen flow tells nobody anything
      this.pairs.delete(pair);
      a.destroy();
      b.destroy();
    };
    a.on('error', end).on('close', end);
    b.on('error', end).on('close', end);
  }

  /** Silently drops every byte of the connections open now; returns how many were frozen. */
  blackhole(): number {
    let n = 0;
    for (const p of this.pairs) {
      if (!p.frozen) n++;
      p.frozen = true;
    }
    return n;
  }

  retarget(port: number): void {
    this.target = port;
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.a.destroy();
      p.b.destroy();
    }
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

// ---- server and endpoint processes -------------------------------------------------------------------

/** The shared backend of one scenario: a fresh database, a Redis prefix and one signing key. */
export class Backend {
  private constructor(
    readonly db: TestDatabase,
    readonly prefix: string,
    readonly signingKey: string,
  ) {}

  static async create(): Promise<Backend> {
    return new Backend(await createTestDatabase(), randomPrefix(), randomBytes(32).toString('hex'));
  }

  async query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
    const c = new pg.Client({ connectionString: this.db.url });
    c.on('error', () => {});
    await c.connect();
    try {
      return (await c.query<T>(sql, params)).rows;
    } finally {
      await c.end();
    }
  }

  async remove(): Promise<void> {
    await this.db.drop().catch(() => undefined);
    await cleanupRedisPrefix(testRedisUrl(), this.prefix).catch(() => undefined);
  }
}

/** Short heartbeats and sweeps so every repair happens within seconds. */
export const FAST_ENV: Record<string, string> = {
  FX_HEARTBEAT_INTERVAL_MS: '500',
  FX_HEARTBEAT_TIMEOUT_MS: '4000',
  FX_SWEEP_INTERVAL_MS: '500',
  FX_BROKER_RECLAIM_MS: '3000',
  FX_MAX_ATTEMPTS: '10',
};

/** A server of one scenario: a ServerProcess on the scenario's shared backend. */
export type FaultServer = ServerProcess;

/** Starts server `name` (A, B: replicas) on the scenario's backend, with the fast timings. */
export function startFaultServer(name: string, backend: Backend, extraEnv: Record<string, string> = {}): Promise<FaultServer> {
  return ServerProcess.start(
    'postgres+redis',
    { FX_SIGNING_KEY: backend.signingKey, ...FAST_ENV, ...extraEnv },
    { name, shared: { databaseUrl: backend.db.url, redisPrefix: backend.prefix }, keepOutput: 4000, dirLabel: `fx-fault-${name}` },
  );
}

/**
 * An `fx-endpoint` home whose agent dials `agentUrl` (a proxy, say) instead of the server it registered
 * with, in a process group of its own so that killAll() takes its workers too.
 */
export async function configureFaultEndpoint(
  server: ServerAddress,
  name: string,
  opts: { workers: number; agentUrl?: string; prefetch?: number },
): Promise<EndpointProcess> {
  const ep = await EndpointProcess.configure(server, name, { workers: opts.workers, detached: true, keepOutput: 4000, dirLabel: 'fx-fault-home' });
  const file = join(ep.dir, 'config.yaml');
  const config = parseYaml(await readFile(file, 'utf8')) as Record<string, unknown>;
  if (opts.agentUrl) config.url = opts.agentUrl;
  // reconnect quickly: the scenarios measure recovery, not backoff
  config.reconnect = { initialDelayMs: 100, maxDelayMs: 1000 };
  // hold plenty beyond the workers, so a 10,000-task batch is worker-bound, not round-trip-bound
  config.prefetch = opts.prefetch ?? 1000;
  await writeFile(file, stringifyYaml(config), { mode: 0o600 });
  return ep;
}

// ---- one scenario ------------------------------------------------------------------------------------

export const BATCH = 10_000;

export interface ScenarioContext {
  backend: Backend;
  servers: FaultServer[];
  endpoint: EndpointProcess;
  proxy: TcpProxy;
  client: Client;
  /** Results the SDK has seen so far. */
  seen(): number;
}

export interface ScenarioReport {
  scenario: string;
  submitted: number;
  seen: number;
  distinct: number;
  duplicates: number;
  success: number;
  failed: number;
  final: number;
  retried: number;
  seconds: number;
}

export interface ScenarioOptions {
  /** Two replicas: the SDK talks to the first, the agent (through the proxy) to the second. */
  replicas?: 1 | 2;
  /** Results seen before the fault strikes. */
  faultAfter?: number;
  workers?: number;
}

/**
 * Submits a 10,000-task batch, strikes `fault` once `faultAfter` results have reached the SDK, then
 * waits for every result and checks the books: 10,000 distinct outcomes in the SDK, none twice,
 * every row final in PostgreSQL. Prints the counts.
 */
export async function runScenario(scenario: string, fault: (ctx: ScenarioContext) => Promise<void>, opts: ScenarioOptions = {}): Promise<ScenarioReport> {
  const started = Date.now();
  const backend = await Backend.create();
  const servers: FaultServer[] = [];
  let endpoint: EndpointProcess | undefined;
  let proxy: TcpProxy | undefined;
  let client: Client | undefined;
  const logs = () => [...servers.map((s) => s.log(6000)), endpoint ? `--- endpoint ${endpoint.name} ---\n${endpoint.log(6000)}` : ''].join('\n');
  try {
    servers.push(await startFaultServer('A', backend));
    if (opts.replicas === 2) servers.push(await startFaultServer('B', backend));
    const agentServer = servers[servers.length - 1]!;
    proxy = await TcpProxy.start(agentServer.port);
    const adminToken = servers[0]!.adminToken;
    endpoint = await configureFaultEndpoint(servers[0]!, `fault-${scenario.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`.slice(0, 60), {
      workers: opts.workers ?? 2,
      agentUrl: proxy.url,
    });
    endpoint.start();
    client = new Client({
      url: servers[0]!.url,
      token: adminToken,
      maxRetries: 30,
      retryMaxDelayMs: 2000,
      reconnectMaxDelayMs: 1000,
      heartbeatIntervalMs: 2000,
    });
    const c = client;
    const ep = endpoint;
    const deadlineOnline = Date.now() + 30_000;
    while ((await c.getEndpoint(ep.endpointId)).state !== 'online') {
      if (Date.now() > deadlineOnline || ep.child?.exitCode != null) throw new Error(`endpoint never came online\n${logs()}`);
      await sleep(200);
    }
    // about a millisecond of work, so that the agent holds tasks in its queue and workers when the fault strikes
    const inc = await c.registerFunction(
      (x: number) => {
        const until = Date.now() + 1;
        while (Date.now() < until);
        return x + 1;
      },
      { name: 'inc' },
    );
    const ids = await c.runBatch(
      ep.endpointId,
      Array.from({ length: BATCH }, (_, i) => ({ functionId: inc, args: [i] })),
    );
    if (ids.length !== BATCH || new Set(ids).size !== BATCH) throw new Error(`submitted ${ids.length} ids, ${new Set(ids).size} distinct`);
    const index = new Map(ids.map((id, i) => [id, i]));

    const counts = new Map<string, number>();
    let seen = 0;
    let wrong = 0;
    const ctx: ScenarioContext = { backend, servers, endpoint: ep, proxy, client: c, seen: () => seen };
    let faultDone: Promise<void> | undefined;
    let faultError: unknown;
    let heldAtFault = 0;
    const faultAfter = opts.faultAfter ?? 2_500;
    for await (const outcome of c.results(ids, { timeoutMs: 300_000 })) {
      seen++;
      counts.set(outcome.taskId, (counts.get(outcome.taskId) ?? 0) + 1);
      if (outcome.status !== 'success' || outcome.result !== index.get(outcome.taskId)! + 1) wrong++;
      if (seen === faultAfter) {
        faultDone = (async () => {
          const [held] = await backend.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE status IN ('dispatched', 'running')`);
          heldAtFault = held?.n ?? 0;
          await fault(ctx);
        })().catch((e) => void (faultError = e));
      }
    }
    if (!faultDone) throw new Error(`the fault never struck (only ${seen} results)`);
    await faultDone;
    if (faultError) throw faultError;
    const rows = await backend.query<{ status: string; n: number; retried: number }>(
      `SELECT status, count(*)::int AS n, count(*) FILTER (WHERE attempt > 0)::int AS retried FROM tasks GROUP BY status`,
    );
    const by = (s: string) => rows.find((r) => r.status === s)?.n ?? 0;
    const report: ScenarioReport = {
      scenario,
      submitted: ids.length,
      seen,
      distinct: counts.size,
      duplicates: [...counts.values()].reduce((n, k) => n + k - 1, 0),
      success: by('success'),
      failed: by('failed'),
      final: by('success') + by('failed') + by('cancelled'),
      retried: rows.reduce((n, r) => n + r.retried, 0),
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
    console.log(
      `[faults] ${scenario}: submitted ${report.submitted}, SDK saw ${report.seen} results (${report.distinct} distinct, ${report.duplicates} duplicates, ${wrong} wrong), ` +
        `PostgreSQL: ${report.final}/${report.submitted} final (${report.success} success, ${report.failed} failed); ${heldAtFault} held by the agent when the fault struck, ${report.retried} re-leased; ${report.seconds} s`,
    );
    if (wrong > 0) throw new Error(`${wrong} outcomes were not the expected success value`);
    return report;
  } catch (e) {
    (e as Error).message += `\n${logs()}`;
    throw e;
  } finally {
    client?.close();
    await endpoint?.stop().catch(() => undefined);
    await proxy?.close().catch(() => undefined);
    for (const s of servers) await s.stop().catch(() => undefined);
    await backend.remove();
  }
}
