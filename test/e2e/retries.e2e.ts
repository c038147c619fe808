import { jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, TaskCancelledError, TaskFailedError, itemRef, type TaskInfo } from '@fx/sdk';
import { EndpointProcess, FX_ROOT, ServerProcess, eventually, tempDir, type Backend, type TempDir } from '@fx/testing';

/**
 * Retries and attempts (issue 14) with real processes: a function that fails its first attempts and
 * counts its executions in a file it appends to, retried per its policy with the backoff respected,
 * every attempt kept with its own record; a code outside the policy is final at once; the last
 * attempt's failure fails the dependents; a server SIGKILL during a backoff still retries; a cancel
 * during a backoff ends the task. PostgreSQL + Redis for all; the embedded store for the main case.
 */
jest.setTimeout(300_000);

const FAST = { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000', FX_SWEEP_INTERVAL_MS: '500' };

/** Appends a line to `log`, then fails while the file has at most `failures` lines: executions are counted on disk. */
const flaky = async (log: string, failures: number) => {
  const fs = await import('node:fs');
  fs.appendFileSync(log, 'ran\n');
  const runs = fs.readFileSync(log, 'utf8').split('\n').length - 1;
  if (runs <= failures) throw new Error(`execution ${runs} fails on purpose`);
  return runs;
};

describe.each<Backend>(['postgres+redis', 'embedded'])('retries on %s', (backend) => {
  const full = backend === 'postgres+redis';
  let server: ServerProcess;
  let endpoint: EndpointProcess;
  let client: Client;
  let token: string;
  let runs: TempDir;
  let fnFlaky: string;
  let n = 0;
  const logs = () => `--- server ---\n${server?.log()}\n--- agent ---\n${endpoint?.log()}`;
  const logFile = () => join(runs.path, `runs-${++n}.log`);
  const executions = async (log: string) => (await readFile(log, 'utf8').catch(() => '')).split('\n').length - 1;
  const waitFor = (id: string, status: TaskInfo['status']) =>
    eventually(async () => (await client.getTask(id)).status === status, 60_000, `task ${status}`).catch((e) => {
      throw new Error(`${(e as Error).message}\n${logs()}`);
    });

  beforeAll(async () => {
    server = await ServerProcess.start(backend, FAST);
    const admin = new Client({ url: server.url, token: server.adminToken });
    const user = await admin.createUser({ name: 'ada' });
    token = (await admin.createToken(user.id)).token;
    admin.close();
    client = new Client({ url: server.url, token });
    endpoint = await EndpointProcess.configure(server, 'ep', { workers: 2, token });
    // the tasks count their executions in a file of the test's: outside a sandbox, whose /tmp is private
    await endpoint.mergeConfig({ sandbox: 'none' });
    endpoint.start();
    await eventually(async () => (await client.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online');
    runs = await tempDir('fx-retries');
    // the function's own policy: 3 attempts, 1.5 s apart, on TASK_ERROR
    fnFlaky = await client.registerFunction(flaky, { name: 'flaky', retry: { maxAttempts: 3, backoffSeconds: 1.5, on: ['TASK_ERROR'] } });
  });

  afterAll(async () => {
    client?.close();
    await endpoint?.stop();
    await server?.stop();
    await runs?.remove();
  });

  it('fails twice, succeeds on the third attempt after the backoff, and keeps a record of every attempt', async () => {
    const log = logFile();
    expect((await client.getFunction(fnFlaky)).retry).toEqual({ maxAttempts: 3, backoffSeconds: 1.5, on: ['TASK_ERROR'] });
    const task = await client.submit<number>(fnFlaky, endpoint.endpointId, [log, 2]);
    expect(await task.result({ timeoutMs: 60_000 }).catch((e) => Promise.reject(new Error(`${e}\n${logs()}`)))).toBe(3);
    expect(await executions(log)).toBe(3);

    const info = await client.getTask(task.id);
    expect(info).toMatchObject({ status: 'success', attempt: 2, retry: { maxAttempts: 3, backoffSeconds: 1.5, on: ['TASK_ERROR'] } });
    expect(info.attempts.map((a) => [a.number, a.status, a.error?.code ?? null])).toEqual([
      [1, 'retried', 'TASK_ERROR'],
      [2, 'retried', 'TASK_ERROR'],
      [3, 'success', null],
    ]);
    expect(info.attempts[0]!.error?.message).toContain('execution 1 fails on purpose');
    expect(info.attempts[1]!.error?.message).toContain('execution 2 fails on purpose');
    for (const a of info.attempts) {
      expect(a).toMatchObject({ endpointId: endpoint.endpointId, connectionId: expect.any(String), workerId: expect.any(String) });
      for (const at of [a.queuedAt, a.dispatchedAt, a.startedAt, a.endedAt]) expect(at).not.toBeNull();
    }
    // the backoff: each next attempt started at least 1.5 s after the previous one ended
    for (const i of [1, 2]) {
      const gap = Date.parse(info.attempts[i]!.startedAt!) - Date.parse(info.attempts[i - 1]!.endedAt!);
      expect(gap).toBeGreaterThanOrEqual(1500);
      expect(Date.parse(info.attempts[i - 1]!.retryAt!) - Date.parse(info.attempts[i - 1]!.endedAt!)).toBeGreaterThanOrEqual(1500);
    }

    if (full) {
      // the CLI shows the history
      const fx = join(FX_ROOT, 'apps/cli/bin/fx.js');
      const env = { PATH: process.env.PATH, HOME: runs.path, FX_HOME: runs.path, FX_URL: server.url, FX_TOKEN: token };
      const { stdout } = await promisify(execFile)(fx, ['task', task.id], { env });
      expect(stdout).toMatch(/attempts\n\s+#1 retried .*TASK_ERROR: execution 1 fails on purpose/);
      expect(stdout).toMatch(/#3 success/);
    }
  });

  if (!full) return;

  it('does not retry a code outside the policy; a task policy replaces the function one', async () => {
    const log = logFile();
    const id = await client.run(fnFlaky, endpoint.endpointId, [log, 5], {}, { retry: { maxAttempts: 5, on: ['WORKER_LOST'] } });
    await expect(client.getResult(id, { timeoutMs: 60_000 })).rejects.toBeInstanceOf(TaskFailedError);
    const info = await client.getTask(id);
    expect(info).toMatchObject({ status: 'failed', attempt: 0, retry: { maxAttempts: 5, backoffSeconds: 0, on: ['WORKER_LOST'] } });
    expect(info.attempts.map((a) => [a.number, a.status])).toEqual([[1, 'failed']]);
    expect(await executions(log)).toBe(1);
  });

  it('makes only the last attempt final, and then fails the dependents', async () => {
    const log = logFile();
    const ids = await client.runBatch(endpoint.endpointId, [
      { functionId: fnFlaky, args: [log, 99], retry: { maxAttempts: 2, backoffSeconds: 0 } },
      { functionId: fnFlaky, args: [itemRef(0), 0] },
    ]);
    const failure = await client.getResult(ids[0]!, { timeoutMs: 60_000 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(TaskFailedError);
    expect(await executions(log)).toBe(2);
    expect((await client.getTask(ids[0]!)).attempts.map((a) => a.status)).toEqual(['retried', 'failed']);
    await waitFor(ids[1]!, 'failed');
    expect((await client.getTask(ids[1]!)).error).toMatchObject({ code: 'DEPENDENCY_FAILED', dependency: { taskId: ids[0], code: 'TASK_ERROR' } });
  });

  it('still retries after a server SIGKILL during the backoff', async () => {
    const log = logFile();
    const id = await client.run(fnFlaky, endpoint.endpointId, [log, 1], {}, { retry: { maxAttempts: 2, backoffSeconds: 4 } });
    await waitFor(id, 'waiting-for-retry');
    expect((await client.getTask(id)).timeline.retryAt).not.toBeNull();
    await server.kill('SIGKILL');
    await server.restart();
    expect(await client.getResult(id, { timeoutMs: 90_000 }).catch((e) => Promise.reject(new Error(`${e}\n${logs()}`)))).toBe(2);
    expect(await executions(log)).toBe(2);
    const info = await client.getTask(id);
    expect(info.attempts.map((a) => a.status)).toEqual(['retried', 'success']);
    expect(Date.parse(info.attempts[1]!.startedAt!) - Date.parse(info.attempts[0]!.endedAt!)).toBeGreaterThanOrEqual(4000);
  });

  it('cancels a task waiting out its backoff: it never runs again', async () => {
    const log = logFile();
    const id = await client.run(fnFlaky, endpoint.endpointId, [log, 1], {}, { retry: { maxAttempts: 3, backoffSeconds: 3 } });
    await waitFor(id, 'waiting-for-retry');
    expect(await client.cancel(id)).toMatchObject({ status: 'cancelled', cancelled: true });
    await expect(client.getResult(id, { timeoutMs: 10_000 })).rejects.toBeInstanceOf(TaskCancelledError);
    // past the backoff and a few sweeps: still cancelled, still one execution
    await new Promise((r) => setTimeout(r, 4_500));
    expect((await client.getTask(id)).status).toBe('cancelled');
    expect(await executions(log)).toBe(1);
  });
});
