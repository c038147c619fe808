import { jest } from '@jest/globals';
import type { AttemptUsage } from '@fx/protocol';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually } from '@fx/testing';

/**
 * Accounting of attempts on a local endpoint (issue 17), through the built server, a real fx-endpoint
 * with js and python workers, and the SDK: each runtime reports what its attempts used, and
 * GET /v1/tasks/:id shows it on the attempt. CPU is burned until the worker's own CPU clock has
 * advanced by a known amount, so the figures follow from the work done.
 */
jest.setTimeout(180_000);

let server: ServerProcess;
let endpoint: EndpointProcess;
let client: Client;

beforeAll(async () => {
  server = await ServerProcess.start('embedded', { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000' });
  client = new Client({ url: server.url, token: server.adminToken });
  endpoint = await EndpointProcess.configure(server, 'acct-box', { workers: 2 });
  await endpoint.mergeConfig({ python: 'python3' });
  endpoint.start();
  const online = async () => (await client.getEndpoint(endpoint.endpointId)).state === 'online';
  await eventually(online, 30_000, 'endpoint online').catch((e: Error) => Promise.reject(new Error(`${e.message}\n${endpoint.log()}\n${server.log()}`)));
});

afterAll(async () => {
  client?.close();
  await endpoint?.stop();
  await server?.stop();
});

/** A run's figures: CPU burned by one thread for `ms` (GC threads may add a little beside it), so at least as much wall time. */
function expectBurned(usage: AttemptUsage, ms: number): void {
  expect(usage.cpuMs).toBeGreaterThanOrEqual(ms);
  expect(usage.wallMs).toBeGreaterThanOrEqual(ms);
  expect(usage.wallMs).toBeGreaterThanOrEqual(usage.cpuMs! * 0.8);
}

/** The usage on the task's one attempt, as GET /v1/tasks/:id shows it. */
async function usageOf(taskId: string): Promise<AttemptUsage> {
  const task = await client.getTask(taskId);
  expect(task.status).toBe('success');
  expect(task.attempts).toHaveLength(1);
  const usage = task.attempts[0]!.usage;
  expect(usage).not.toBeNull();
  return usage!;
}

it('a js task that burns CPU reports its CPU time, within its wall time, and its peak memory', async () => {
  const burn = await client.registerFunction(
    (ms: number) => {
      const until = process.cpuUsage().user + ms * 1000;
      while (process.cpuUsage().user < until);
      return ms;
    },
    { name: 'burn-js' },
  );
  const id = await client.run(burn, endpoint.endpointId, [400]);
  expect(await client.getResult(id, { timeoutMs: 60_000 })).toBe(400);
  const usage = await usageOf(id);
  expect(usage).toMatchObject({ cores: 1, gpus: 0 });
  expectBurned(usage, 400);
  expect(usage.maxRssBytes).toBeGreaterThan(10 * 1024 * 1024);
  expect(usage.blockId).toBeUndefined();
});

it('a python task reports its CPU time and peak memory; cores come from its request', async () => {
  const burn = await client.registerPythonFunction(
    'import time\n\ndef main(seconds):\n    data = b"x" * (96 * 1024 * 1024)\n    t = time.process_time()\n    while time.process_time() - t < seconds:\n        pass\n    return len(data)\n',
    { name: 'burn-py', entrypoint: 'main' },
  );
  const id = await client.run(burn, endpoint.endpointId, [0.4], {}, { resources: { cores: 2 } });
  expect(await client.getResult(id, { timeoutMs: 60_000 })).toBe(96 * 1024 * 1024);
  const usage = await usageOf(id);
  expect(usage).toMatchObject({ cores: 2, gpus: 0 });
  expectBurned(usage, 400);
  expect(usage.maxRssBytes).toBeGreaterThanOrEqual(96 * 1024 * 1024);
});

it('a shell task reports its wall time only: no CPU or memory figure', async () => {
  const nap = await client.registerShellFunction('sleep {s}', { name: 'nap' });
  const id = await client.run(nap, endpoint.endpointId, [], { s: 0.3 });
  await client.getResult(id, { timeoutMs: 60_000 });
  const usage = await usageOf(id);
  expect(usage).toEqual({ wallMs: expect.any(Number), cores: 1, gpus: 0, cpuMs: null, maxRssBytes: null });
  expect(usage.wallMs).toBeGreaterThanOrEqual(300);
});
