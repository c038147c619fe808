import { spawnSync } from 'node:child_process';
import { jest } from '@jest/globals';
import pg from 'pg';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess, cleanupRedisPrefix, createTestDatabase, eventually, randomPrefix, testRedisUrl, type TestDatabase } from '@fx/testing';

/**
 * Accounting on a real Slurm cluster (issue 17): a batch runs in a pilot block, the block ends after
 * going idle, and the figures add up in the server's tables: each block's node time is its busy plus
 * idle time (within rounding), and the batch's core-seconds fit in the busy node-seconds of its blocks.
 * The server runs on PostgreSQL so the test reads usage_records and endpoint_blocks directly. Needs a
 * running Slurm (scripts/slurm-up.sh); without one the test fails and says so.
 */
jest.setTimeout(300_000);

const SETUP_HINT = 'Slurm is not running on this machine: run `sudo bash scripts/slurm-up.sh`, then run the tests again';

function slurmProblem(): string | undefined {
  const r = spawnSync('sinfo', ['--noheader', '--format=%t'], { encoding: 'utf8', timeout: 15_000 });
  if (r.error || r.status !== 0) return `${SETUP_HINT} (sinfo: ${r.error?.message ?? r.stderr.trim()})`;
  if (!/^(idle|mix|alloc)/m.test(r.stdout)) return `${SETUP_HINT} (no usable node; sinfo says: ${r.stdout.trim() || 'nothing'})`;
  return undefined;
}

function liveJobs(name: string): string[] {
  const r = spawnSync('squeue', ['--noheader', `--name=${name}`, '--format=%i %T'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

const WORKERS_PER_NODE = 2;
const CORES_PER_WORKER = 1;
const TASKS = 30;
/** One block at a time, of one node with two single-core workers, scaled in after 2 s idle. */
const SLURM = {
  walltime: '00:10:00',
  nodesPerBlock: 1,
  workersPerNode: WORKERS_PER_NODE,
  coresPerWorker: CORES_PER_WORKER,
  initBlocks: 0,
  minBlocks: 0,
  maxBlocks: 1,
  maxIdleSeconds: 2,
  listen: '127.0.0.1:0',
  address: '127.0.0.1',
  pollIntervalSeconds: 0.5,
};

interface BlockRow {
  block_id: string;
  state: string;
  nodes: number;
  started: number | null;
  ended: number | null;
  busy_ms: number;
  idle_ms: number;
}

describe('accounting on Slurm', () => {
  const problem = slurmProblem();
  let db: TestDatabase;
  let sql: pg.Client;
  let redisPrefix: string;
  let server: ServerProcess;
  let endpoint: EndpointProcess;
  let client: Client;
  let jobName = '';
  const dumpLogs = () => `--- endpoint ---\n${endpoint?.log()}\n--- server ---\n${server?.log()}`;

  beforeAll(async () => {
    if (problem) return;
    db = await createTestDatabase();
    redisPrefix = randomPrefix();
    server = await ServerProcess.start(
      'postgres+redis',
      { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000', FX_SWEEP_INTERVAL_MS: '500' },
      { shared: { databaseUrl: db.url, redisPrefix } },
    );
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    endpoint = await EndpointProcess.configure(server, 'acct-hpc');
    jobName = `fx-acct-hpc-${endpoint.endpointId.slice(0, 8)}`;
    await endpoint.mergeConfig({ provider: 'slurm', drainTimeoutSeconds: 5, slurm: SLURM });
    endpoint.start();
    client = new Client({ url: server.url, token: server.adminToken });
    const online = async () => (await client.getEndpoint(endpoint.endpointId)).state === 'online';
    await eventually(online, 30_000, 'endpoint online').catch((e: Error) => Promise.reject(new Error(`${e.message}\n${dumpLogs()}`)));
  });

  afterAll(async () => {
    client?.close();
    for (const stop of [() => endpoint?.stop(), () => server?.stop(), () => sql?.end(), () => db?.drop()]) await stop();
    if (redisPrefix) await cleanupRedisPrefix(testRedisUrl(), redisPrefix);
    const left = jobName ? liveJobs(jobName).map((l) => l.split(' ')[0]!) : [];
    if (left.length) spawnSync('scancel', left);
  });

  const blocks = async (): Promise<BlockRow[]> =>
    (
      await sql.query<BlockRow>(
        `SELECT block_id, state, nodes, (extract(epoch FROM started_at) * 1000)::float8 AS started, (extract(epoch FROM ended_at) * 1000)::float8 AS ended,
                busy_ms::float8 AS busy_ms, idle_ms::float8 AS idle_ms
         FROM endpoint_blocks WHERE endpoint_id = $1::uuid ORDER BY started_at`,
        [endpoint.endpointId],
      )
    ).rows;

  it("runs a batch in a block that then ends; the block's node time is busy + idle, and the batch fits in its busy node time", async () => {
    if (problem) throw new Error(problem);
    const work = await client.registerFunction(
      async (i: number) => {
        // 250 ms by the clock the worker measures wall time with: a timer counts from the event loop's
        // cached time, which can be a millisecond behind performance.now(), so one setTimeout(250) was
        // measured at 249 ms
        const until = performance.now() + 250;
        while (performance.now() < until) await new Promise((r) => setTimeout(r, Math.max(1, until - performance.now())));
        return i;
      },
      { name: 'acct-work' },
    );
    const ids = await client.runBatch(
      endpoint.endpointId,
      Array.from({ length: TASKS }, (_, i) => ({ functionId: work, args: [i] })),
    );
    const results = await client.getResults(ids, { timeoutMs: 180_000 }).catch((e) => {
      throw new Error(`${(e as Error).message}\n${dumpLogs()}`);
    });
    expect(results).toEqual(Array.from({ length: TASKS }, (_, i) => i));

    // idle past maxIdleSeconds: the block is scaled in, ends, and its final figures reach the server
    const ended = await eventually(
      async () => {
        const rows = await blocks();
        return rows.length > 0 && rows.every((b) => b.ended !== null) && liveJobs(jobName).length === 0 ? rows : undefined;
      },
      90_000,
      'every block ended and reported',
    ).catch((e) => {
      throw new Error(`${(e as Error).message}\n${dumpLogs()}`);
    });
    let busyNodeMs = 0;
    for (const b of ended) {
      expect(b.state).toBe('ended');
      expect(b.nodes).toBe(1);
      const nodeMs = b.nodes * (b.ended! - b.started!);
      // node time = busy + idle: exact on the agent's clock, within rounding as stored
      expect(Math.abs(nodeMs - b.nodes * (b.busy_ms + b.idle_ms))).toBeLessThanOrEqual(1000);
      expect(b.busy_ms).toBeGreaterThan(0);
      expect(b.idle_ms).toBeGreaterThan(0);
      busyNodeMs += b.nodes * b.busy_ms;
    }

    // one usage record per task, each in one of those blocks, and their core time within the busy node time
    const usage = (
      await sql.query<{ task_id: string; attempt: number; block_id: string | null; cores: number; gpus: number; wall_ms: number; cpu_ms: number | null }>(
        `SELECT task_id, attempt, block_id, cores, gpus, wall_ms::float8 AS wall_ms, cpu_ms::float8 AS cpu_ms
         FROM usage_records WHERE task_id = ANY($1::uuid[])`,
        [ids],
      )
    ).rows;
    expect(usage).toHaveLength(TASKS);
    const blockIds = new Set(ended.map((b) => b.block_id));
    for (const u of usage) {
      expect(u).toMatchObject({ attempt: 1, cores: CORES_PER_WORKER, gpus: 0 });
      expect(blockIds.has(u.block_id!)).toBe(true);
      expect(u.wall_ms).toBeGreaterThanOrEqual(250);
      expect(u.cpu_ms).not.toBeNull();
    }
    const coreMs = usage.reduce((sum, u) => sum + u.cores * u.wall_ms, 0);
    expect(coreMs).toBeLessThanOrEqual(busyNodeMs * WORKERS_PER_NODE * CORES_PER_WORKER);
    console.log(
      `slurm accounting: ${ended.length} block(s), ${(busyNodeMs / 1000).toFixed(1)} busy + ${(ended.reduce((s, b) => s + b.nodes * b.idle_ms, 0) / 1000).toFixed(1)} idle node-s; batch ${(coreMs / 1000).toFixed(1)} core-s`,
    );

    // the attempt shows it too, with its block
    const task = await client.getTask(ids[0]!);
    expect(task.attempts[0]!.usage).toMatchObject({ cores: CORES_PER_WORKER, gpus: 0, blockId: expect.stringMatching(/^b\d+-/) });

    // and GET /v1/usage, which `fx usage` and the console read, reports the same figures
    const report = await client.usage({ by: 'function' });
    const row = report.rows.find((r) => r.key === work);
    expect(row).toMatchObject({ attempts: TASKS, tasks: TASKS, gpuHours: 0 });
    expect(row!.coreHours).toBeCloseTo(coreMs / 3_600_000, 6);
    const mine = report.blocks.find((b) => b.endpointId === endpoint.endpointId);
    const idleNodeMs = ended.reduce((s, b) => s + b.nodes * b.idle_ms, 0);
    expect(mine).toMatchObject({ blocks: ended.length });
    expect(mine!.busyNodeHours).toBeCloseTo(busyNodeMs / 3_600_000, 6);
    expect(mine!.idleNodeHours).toBeCloseTo(idleNodeMs / 3_600_000, 6);
    expect(mine!.nodeHours).toBeCloseTo(mine!.busyNodeHours + mine!.idleNodeHours, 9);
    expect(mine!.idleShare).toBeCloseTo(idleNodeMs / (busyNodeMs + idleNodeMs), 6);
  });
});
