import { jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, type TaskInfo } from '@fx/sdk';
import { EndpointProcess, FX_ROOT, ServerProcess, eventually, tempDir, type TempDir } from '@fx/testing';

/**
 * Speculative execution (issue 16) with real processes: an endpoint of 4 workers, one of which runs
 * every task 20 times slower (the first worker to claim a marker file is the slow one: task code tells
 * workers apart by process id, outside a sandbox). A batch of an idempotent function with speculation
 * finishes with every task's one result coming from a fast worker: the stragglers' copies won, their
 * originals were superseded and cancelled, and GET /v1/tasks/:id shows both attempts. The same batch
 * of a function not marked idempotent is never speculated.
 */
jest.setTimeout(240_000);

const FAST = { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '5000', FX_SWEEP_INTERVAL_MS: '500', FX_SPECULATION_INTERVAL_MS: '200' };
const TASKS = 40;

/** 300 ms, or 20 times that on the worker that claimed `marker` first. */
const straggle = async (i: number, marker: string) => {
  const fs = await import('node:fs');
  try {
    fs.writeFileSync(marker, String(process.pid), { flag: 'wx' });
  } catch {
    // claimed already, by this worker or another
  }
  const slow = fs.readFileSync(marker, 'utf8') === String(process.pid);
  await new Promise((r) => setTimeout(r, slow ? 6_000 : 300));
  return { i, pid: process.pid, slow };
};
type Straggled = { i: number; pid: number; slow: boolean };

describe('speculative execution (local provider, 4 workers, one 20× slower)', () => {
  let server: ServerProcess;
  let endpoint: EndpointProcess;
  let client: Client;
  let dir: TempDir;
  const logs = () => `--- server ---\n${server?.log()}\n--- agent ---\n${endpoint?.log()}`;

  beforeAll(async () => {
    server = await ServerProcess.start('postgres+redis', FAST);
    client = new Client({ url: server.url, token: server.adminToken });
    endpoint = await EndpointProcess.configure(server, 'spec', { workers: 4 });
    // workers are told apart by process.pid, which a sandbox's pid namespace hides
    await endpoint.mergeConfig({ sandbox: 'none' });
    endpoint.start();
    await eventually(async () => (await client.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online');
    dir = await tempDir('fx-speculation');
  });

  afterAll(async () => {
    client?.close();
    await endpoint?.stop();
    await server?.stop();
    await dir?.remove();
  });

  const runBatch = async (fn: string, marker: string) => {
    const ids = await client.runBatch(
      endpoint.endpointId,
      Array.from({ length: TASKS }, (_, i) => ({ functionId: fn, args: [i, marker] })),
      { speculation: { afterFactor: 3, minSamples: 5 } },
    );
    const results = (await client.getResults(ids, { timeoutMs: 180_000 }).catch((e: Error) => {
      throw new Error(`${e.message}\n${logs()}`);
    })) as Straggled[];
    const tasks: TaskInfo[] = [];
    for (const id of ids) tasks.push(await client.getTask(id));
    return { ids, results, tasks };
  };

  it('rescues the slow worker’s tasks with copies on other workers: one result each, the losers cancelled, both attempts recorded', async () => {
    const fn = await client.registerFunction(straggle, { name: 'straggle', idempotent: true });
    expect((await client.getFunction(fn)).idempotent).toBe(true);
    const marker = join(dir.path, 'slow-worker');
    const { ids, results, tasks } = await runBatch(fn, marker);
    const slowPid = Number(await readFile(marker, 'utf8'));

    // every task: exactly one final result, its own
    expect(results.map((r) => r.i)).toEqual(ids.map((_, i) => i));
    expect(tasks.every((t) => t.status === 'success')).toBe(true);
    const group = await client.group(tasks[0]!.batchId!).describe();
    expect(group).toMatchObject({ speculation: { afterFactor: 3, minSamples: 5 }, counts: { total: TASKS, byStatus: { success: TASKS } } });

    // no result came from the slow worker: each of its tasks was rescued by a copy that ran elsewhere
    expect(results.filter((r) => r.slow)).toEqual([]);
    const rescued = tasks.filter((t) => t.attempts.some((a) => a.speculative));
    expect(rescued.length).toBeGreaterThan(0);
    for (const t of rescued) {
      const result = results[ids.indexOf(t.id)]!;
      expect(result.pid).not.toBe(slowPid);
      // the original attempt was superseded (and cancelled on its worker); the copy's is the task's
      expect(t.attempts).toEqual([
        expect.objectContaining({ number: 1, speculative: false, status: 'superseded', startedAt: expect.any(String), endedAt: expect.any(String) }),
        expect.objectContaining({ number: 1, speculative: true, status: 'success', workerId: expect.any(String), startedAt: expect.any(String) }),
      ]);
    }
    // a task no copy was needed for has its one attempt
    const plain = tasks.find((t) => !rescued.includes(t))!;
    expect(plain.attempts).toEqual([expect.objectContaining({ number: 1, speculative: false, status: 'success' })]);
    // fx task shows both
    const fx = join(FX_ROOT, 'apps/cli/bin/fx.js');
    const env = { PATH: process.env.PATH!, HOME: dir.path, FX_HOME: dir.path, FX_URL: server.url, FX_TOKEN: server.adminToken };
    const { stdout } = await promisify(execFile)(fx, ['task', rescued[0]!.id], { env });
    expect(stdout).toMatch(/#1 superseded .*\n\s+#1 success \(copy\)/);
    // the losers were told to stop: the agent aborted them (no result of theirs was recorded)
    await eventually(
      // the whole log kept: the agent also logs a few lines about every task (docs/observability.md)
      async () => /its speculative copy finished first|cancelled \d+ queued and [1-9]\d* running/.test(endpoint.log(Infinity)),
      10_000,
      'loser cancelled',
    );
  });

  it('never copies a task of a function not marked idempotent', async () => {
    const fn = await client.registerFunction(straggle, { name: 'straggle-once' });
    expect((await client.getFunction(fn)).idempotent).toBe(false);
    const marker = join(dir.path, 'slow-worker-2');
    const { results, tasks } = await runBatch(fn, marker);
    expect(tasks.every((t) => t.status === 'success')).toBe(true);
    expect(tasks.flatMap((t) => t.attempts).filter((a) => a.speculative)).toEqual([]);
    expect(tasks.every((t) => t.attempts.length === 1)).toBe(true);
    // the slow worker's tasks ran to their end there
    expect(results.some((r) => r.slow)).toBe(true);
  });

  it('fx functions register --idempotent and fx batch --speculate-after run a speculating batch', async () => {
    const fx = join(FX_ROOT, 'apps/cli/bin/fx.js');
    const env = { PATH: process.env.PATH!, HOME: dir.path, FX_HOME: dir.path, FX_URL: server.url, FX_TOKEN: server.adminToken };
    const module = join(dir.path, 'straggle.mjs');
    await writeFile(module, `export default ${straggle.toString()};\n`);
    const run = promisify(execFile);
    await run(fx, ['functions', 'register', module, '--name', 'straggle-cli', '--idempotent'], { env });
    expect((await client.getFunction('straggle-cli')).idempotent).toBe(true);
    const marker = join(dir.path, 'slow-worker-cli');
    const argsFile = join(dir.path, 'args.jsonl');
    await writeFile(argsFile, Array.from({ length: 20 }, (_, i) => JSON.stringify([i, marker])).join('\n'));
    const usage = await run(fx, ['batch', 'straggle-cli', '--endpoint', 'spec', '--args-file', argsFile, '--speculate-min-samples', '3'], { env }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(usage).toMatchObject({ code: 2, stderr: expect.stringMatching(/--speculate-min-samples applies with --speculate-after/) });
    const { stdout } = await run(
      fx,
      ['batch', 'straggle-cli', '--endpoint', 'spec', '--args-file', argsFile, '--speculate-after', '3', '--speculate-min-samples', '3'],
      {
        env,
        timeout: 120_000,
      },
    );
    const batchId = stdout.trim().split('\n')[0]!;
    const group = await client.group(batchId).describe();
    expect(group).toMatchObject({ speculation: { afterFactor: 3, minSamples: 3 }, counts: { total: 20, byStatus: { success: 20 } } });
  });

  it('runs examples/speculation.mjs as the README prints it', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['examples/speculation.mjs'], {
      cwd: FX_ROOT,
      env: { PATH: process.env.PATH, FX_URL: server.url, FX_TOKEN: server.adminToken, FX_ENDPOINT: endpoint.endpointId },
      timeout: 120_000,
    });
    expect(stdout).toBe(`${JSON.stringify(Array.from({ length: 12 }, (_, i) => i * i))}\n[ '1: superseded', '1 (copy): success' ]\n`);
  });
});
