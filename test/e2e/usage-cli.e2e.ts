import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import { Client, ValidationError, type UsageResponse } from '@fx/sdk';
import { tempDir, type TempDir } from '@fx/testing';
import { startTestServer, type TestServer } from '../../apps/server/src/testing/test-server.js';
import { seedAttempts, seedBlocks } from '../../apps/server/src/testing/usage-seed.js';
import { DATABASE } from '../../apps/server/src/storage/storage.module.js';
import type { Database } from '../../apps/server/src/storage/database.js';

/**
 * `fx usage` and `client.usage()` (issue 17) against a real server on PostgreSQL + Redis, over usage
 * rows and pilot blocks written straight into its database (what agents' results and heartbeats
 * would have recorded): the built bin as a child process with its own FX_HOME, exit codes checked.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FX = join(root, 'apps/cli/bin/fx.js');
jest.setTimeout(120_000);

const H = 3_600_000;
const T0 = Date.parse('2026-06-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

let server: TestServer;
let home: TempDir;
let alice: Client;
let admin: Client;
let env: Record<string, string>;
let fn: string;
let ep: string;

interface Run {
  code: number | null;
  out: string;
  stderr: string;
}

/** Runs the built `fx` bin without blocking this process, whose event loop serves the server; never rejects. */
function fx(args: string[], as: Record<string, string> = env): Promise<Run> {
  return new Promise((done) => {
    execFile(
      FX,
      args,
      { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH, HOME: process.env.HOME, FX_HOME: home.path, ...as } },
      (error, out, stderr) => done({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, out, stderr }),
    );
  });
}

beforeAll(async () => {
  server = await startTestServer('postgres+redis', { FX_RATE_LIMIT_PER_SECOND: '0' });
  home = await tempDir('fx-usage-cli-home');
  admin = new Client({ url: server.url, token: server.adminToken });
  const user = await admin.createUser({ name: 'alice' });
  const token = (await admin.createToken(user.id, { name: 'cli' })).token;
  env = { FX_URL: server.url, FX_TOKEN: token };
  alice = new Client({ url: server.url, token });
  fn = (await alice.createFunction({ name: 'square', runtime: 'js', source: '(x) => x * x' })).id;
  ep = (await alice.registerEndpoint({ name: 'hpc' })).endpoint.id;
  const other = await admin.createUser({ name: 'bob' });
  const db: Database = server.app.get(DATABASE);
  await seedAttempts(db, [
    { ownerId: user.id, functionId: fn, endpointId: ep, endedAt: T0 + H, wallMs: 2 * H, cores: 8, gpus: 2, cpuMs: 10 * H, maxRssBytes: 2 ** 30 },
    { ownerId: user.id, functionId: fn, endpointId: ep, endedAt: T0 + 30 * H, wallMs: H, cores: 4, gpus: 0, cpuMs: null },
    { ownerId: other.id, functionId: fn, endpointId: ep, endedAt: T0 + 2 * H, wallMs: H, cores: 64 },
    // an hour ago: inside `--since 24h`
    { ownerId: user.id, functionId: fn, endpointId: ep, endedAt: Date.now() - H, wallMs: 0.5 * H, cores: 2 },
  ]);
  await seedBlocks(db, [{ endpointId: ep, nodes: 2, startedAt: T0, endedAt: T0 + 4 * H, busyMs: 3 * H, idleMs: H }]);
});

afterAll(async () => {
  alice?.close();
  admin?.close();
  await server?.stop();
  await home?.remove();
});

const window = ['--since', iso(T0), '--until', iso(T0 + 48 * H)];

describe('client.usage', () => {
  it('returns the report of the REST route, with Dates or ISO strings for the window', async () => {
    const r = await alice.usage({ by: 'function', since: new Date(T0), until: iso(T0 + 48 * H), bucket: 'hour' });
    expect(r).toMatchObject({ by: 'function', bucket: 'hour', since: iso(T0), until: iso(T0 + 48 * H) });
    expect(r.rows).toEqual([expect.objectContaining({ key: fn, name: 'square@1', attempts: 2, tasks: 2, coreHours: 20, gpuHours: 4, cpuHours: 10 })]);
    expect(r.series.map((p) => [p.at, p.coreHours])).toEqual([
      [iso(T0 + H), 16],
      [iso(T0 + 30 * H), 4],
    ]);
    expect(r.blocks).toEqual([{ endpointId: ep, endpointName: 'hpc', blocks: 1, nodeHours: 8, busyNodeHours: 6, idleNodeHours: 2, idleShare: 0.25 }]);
    expect((await admin.usage({ since: iso(T0), until: iso(T0 + 48 * H) })).total.coreHours).toBe(20 + 64);
  });

  it('refuses a bad query before sending it, and passes on the server’s refusal of a window', async () => {
    await expect(alice.usage({ by: 'owner' as never })).rejects.toThrow(ValidationError);
    const refused = alice.usage({ since: iso(T0 + H), until: iso(T0) });
    await expect(refused).rejects.toThrow(ValidationError);
    await expect(refused).rejects.toThrow(/must be before until/);
  });
});

describe('fx usage', () => {
  it('prints rows, the total and the blocks’ idle share for people', async () => {
    const r = await fx(['usage', '--by', 'function', ...window]);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('Usage by function, 2026-06-01 00:00:00Z to 2026-06-03 00:00:00Z');
    expect(lines[1]).toMatch(/^FUNCTION\s+CORE-H\s+GPU-H\s+CPU-H\s+WALL-H\s+ATTEMPTS\s+TASKS$/);
    expect(lines[2]!.split(/\s+/)).toEqual(['square@1', '20.00', '4.00', '10.00', '3.00', '2', '2']);
    expect(lines[3]!.split(/\s+/)).toEqual(['TOTAL', '20.00', '4.00', '10.00', '3.00', '2', '2']);
    expect(r.out).toContain('Pilot blocks (node-hours inside the window)');
    expect(lines.find((l) => l.startsWith('hpc'))!.split(/\s+/)).toEqual(['hpc', '1', '8.00', '6.00', '2.00', '25.0%']);
    expect(r.stderr).toMatch(/CPU-hours count 1 of 2 attempts/);
  });

  it('writes the report as one JSON document with --json, and reads durations back from now', async () => {
    const r = await fx(['--json', 'usage', '--by', 'endpoint', '--bucket', 'hour', ...window]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as UsageResponse;
    expect(report).toMatchObject({ by: 'endpoint', bucket: 'hour', total: { attempts: 2, coreHours: 20 } });
    expect(report.rows.map((x) => [x.key, x.name])).toEqual([[ep, 'hpc']]);
    const day = JSON.parse((await fx(['usage', '--since', '24h', '--json'])).out) as UsageResponse;
    expect(Date.parse(day.until) - Date.parse(day.since)).toBeGreaterThan(24 * H - 60_000);
    expect(Date.parse(day.until) - Date.parse(day.since)).toBeLessThanOrEqual(24 * H + 60_000);
    expect(day.total).toMatchObject({ attempts: 1, coreHours: 1 });
  });

  it('says when nothing ended in the window, and shows an admin everyone', async () => {
    const empty = await fx(['usage', '--since', iso(T0 - 48 * H), '--until', iso(T0)]);
    expect(empty.code).toBe(0);
    expect(empty.out).toContain('No attempt ended in this window.');
    const all = await fx(['usage', ...window], { FX_URL: server.url, FX_TOKEN: server.adminToken });
    expect(all.code).toBe(0);
    expect(all.out).toMatch(/^bob\s+64\.00/m);
    expect(all.out).toMatch(/^alice\s+20\.00/m);
  });

  it('exits 2 on a bad option and 1 when the server refuses the window', async () => {
    const by = await fx(['usage', '--by', 'owner']);
    expect(by.code).toBe(2);
    expect(by.stderr).toMatch(/Allowed choices are user, endpoint, function/);
    const when = await fx(['usage', '--since', 'last week']);
    expect(when.code).toBe(2);
    const refused = await fx(['usage', '--since', iso(T0), '--until', iso(T0 + 400 * 24 * H)]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/at most 366 may be asked for/);
  });
});
