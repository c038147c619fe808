import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jest } from '@jest/globals';
import { Client, type TaskInfo } from '@fx/sdk';
import { EndpointProcess, FX_ROOT, ServerProcess, eventually, tempDir, type Backend, type TempDir } from '@fx/testing';

/**
 * Priorities end to end (issue 14): a task of higher priority overtakes the lower ones queued before it
 * on the server, in the agent's prefetch and in its worker's own queue, on a one-worker endpoint. Start
 * order is read from the timelines. Both stores: the Redis broker (Lua) and the in-process one.
 */
jest.setTimeout(300_000);

const FX = join(FX_ROOT, 'apps/cli/bin/fx.js');
const run = promisify(execFile);
const FAST = { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000', FX_SWEEP_INTERVAL_MS: '500' };
const startOf = (t: TaskInfo) => Date.parse(t.timeline.runningAt ?? '');

describe.each<Backend>(['postgres+redis', 'embedded'])('priorities on %s', (backend) => {
  let server: ServerProcess;
  let endpoint: EndpointProcess;
  let alice: Client;
  let token: string;
  let home: TempDir;
  const logs = () => `--- server ---\n${server?.log()}\n--- agent ---\n${endpoint?.log()}`;

  beforeAll(async () => {
    server = await ServerProcess.start(backend, FAST);
    const admin = new Client({ url: server.url, token: server.adminToken });
    const user = await admin.createUser({ name: 'alice' });
    token = (await admin.createToken(user.id)).token;
    admin.close();
    alice = new Client({ url: server.url, token });
    endpoint = await EndpointProcess.configure(server, 'one-worker', { workers: 1, token });
    endpoint.start();
    await eventually(async () => (await alice.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online').catch((e) => {
      throw new Error(`${(e as Error).message}\n${logs()}`);
    });
    home = await tempDir('fx-priority-home');
  });

  afterAll(async () => {
    alice?.close();
    await endpoint?.stop();
    await server?.stop();
    await home?.remove();
  });

  it('runs a high-priority task before the low ones queued ahead of it (server queue, agent prefetch, worker queue)', async () => {
    const nap = await alice.registerFunction((ms: number) => new Promise((r) => setTimeout(() => r(ms), ms)), { name: 'nap' });
    // more than the agent prefetches (256) and its worker holds (16): some wait on the server, some on the agent
    const lows = await alice.runBatch(
      endpoint.endpointId,
      Array.from({ length: 400 }, () => ({ functionId: nap, args: [25] })),
      { priority: 1 },
    );
    await eventually(async () => (await alice.getTaskStatuses(lows)).tasks.filter((t) => t.status === 'success').length >= 20, 60_000, 'lows under way');
    const high = await alice.run(nap, endpoint.endpointId, [25], {}, { priority: 9 });
    const submittedAt = Date.now();
    await alice.getResults([high, ...lows], { timeoutMs: 120_000 }).catch((e) => Promise.reject(new Error(`${e}\n${logs()}`)));

    const highInfo = await alice.getTask(high);
    expect(highInfo.priority).toBe(9);
    const lowInfos = await Promise.all(lows.map((id) => alice.getTask(id)));
    expect(lowInfos.every((t) => t.priority === 1)).toBe(true);
    // lows that had not started when the high one was submitted: it overtakes them all but those that
    // start while it travels (dispatch UPDATE, frame, worker: a few hundred ms, more on a loaded machine);
    // without priorities it would start after every one of them
    const waiting = lowInfos.filter((t) => startOf(t) > submittedAt);
    const startedFirst = waiting.filter((t) => startOf(t) < startOf(highInfo)).length;
    expect(waiting.length).toBeGreaterThan(200);
    const timeline = { submittedAt: new Date(submittedAt).toISOString(), ...highInfo.timeline };
    if (startedFirst > waiting.length / 5)
      throw new Error(`${startedFirst} of ${waiting.length} waiting lows started before the high task: ${JSON.stringify(timeline)}`);
  });

  it('fx run --priority and fx batch --priority set it; fx task shows it', async () => {
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, FX_HOME: home.path, FX_URL: server.url, FX_TOKEN: token };
    const once = await run(FX, ['--json', 'run', 'nap', '--endpoint', 'one-worker', '--args', '[1]', '--priority', '8'], { env });
    const outcome = JSON.parse(once.stdout) as { taskId: string; result: unknown };
    expect(outcome.result).toBe(1);
    expect((await alice.getTask(outcome.taskId)).priority).toBe(8);
    const shown = await run(FX, ['task', outcome.taskId], { env });
    expect(shown.stdout).toMatch(/priority\s+8/);
    const argsFile = join(home.path, 'naps.jsonl');
    await writeFile(argsFile, '[1]\n[2]\n');
    const batch = await run(FX, ['batch', 'nap', '--endpoint', 'one-worker', '--args-file', argsFile, '--priority', '3'], { env });
    const batchId = batch.stdout.trim().split('\n')[0]!;
    const inBatch = (await alice.listTasks({ batchId })).items;
    expect(inBatch).toHaveLength(2);
    for (const t of inBatch) expect((await alice.getTask(t.id)).priority).toBe(3);
    const refused = await run(FX, ['run', 'nap', '--endpoint', 'one-worker', '--priority', '10'], { env }).catch((e: { code: number; stderr: string }) => e);
    expect(refused).toMatchObject({ code: 2, stderr: expect.stringContaining('from 0 to 9') });
  });
});
