import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { parse, stringify } from 'yaml';
import { Client, TaskCancelledError, TaskFailedError } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually } from '@fx/testing';

/**
 * Python as a function runtime (issue 13), through the built server, a real fx-endpoint agent with its
 * python workers (config.yaml `python: python3`, which has numpy here) and the TypeScript SDK: results,
 * exceptions with the user's traceback, output, walltime, cancel, a worker killed mid-task, a batch in
 * order; and shell functions that fail on a non-zero exit.
 */
jest.setTimeout(180_000);

let server: ServerProcess;
let endpoint: EndpointProcess;
let client: Client;

const STATS = `import numpy as np

def main(n, scale=1.0):
    data = np.arange(n, dtype=float) * scale
    print(f"{n} values")
    return {"mean": float(data.mean()), "std": float(data.std()), "numpy": np.__version__}
`;

const SLEEPER = `import time

def main(seconds):
    print("going to sleep", flush=True)
    time.sleep(seconds)
    return "woke up"
`;

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => new Error('expected the task to fail'),
    (e: unknown) => e,
  );

/** The python worker processes of the agent: its descendants running fx_worker.py (under bwrap or not). */
async function pythonWorkerPids(agentPid: number): Promise<number[]> {
  const parents = new Map<number, number>();
  const workers: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      // the interpreter itself, not the bwrap processes around it (their arguments name the script too)
      const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      if (/^python/.test(argv[0]!.split('/').pop()!) && argv.some((a) => a.endsWith('fx_worker.py'))) workers.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  const descends = (pid: number): boolean => {
    for (let p = parents.get(pid); p !== undefined && p > 1; p = parents.get(p)) if (p === agentPid) return true;
    return false;
  };
  return workers.filter(descends);
}

beforeAll(async () => {
  server = await ServerProcess.start('embedded', { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000', FX_SWEEP_INTERVAL_MS: '500' });
  const admin = new Client({ url: server.url, token: server.adminToken });
  const user = await admin.createUser({ name: 'scientist' });
  const token = (await admin.createToken(user.id, { name: 'py' })).token;
  admin.close();
  client = new Client({ url: server.url, token });
  endpoint = await EndpointProcess.configure(server, 'py-box', { workers: 2, token });
  const file = join(endpoint.dir, 'config.yaml');
  await writeFile(file, stringify({ ...(parse(await readFile(file, 'utf8')) as object), python: 'python3' }), { mode: 0o600 });
  endpoint.start();
  await eventually(async () => (await client.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online').catch((e) => {
    throw new Error(`${(e as Error).message}\n${endpoint.log()}\n${server.log()}`);
  });
});

afterAll(async () => {
  client?.close();
  await endpoint?.stop();
  await server?.stop();
});

it('runs a numpy function registered from TypeScript, and returns what it printed with the result', async () => {
  const fn = await client.registerPythonFunction(STATS, { name: 'stats', entrypoint: 'main' });
  expect(await client.getFunction(fn)).toMatchObject({ runtime: 'python', entrypoint: 'main', source: STATS, failOnNonZeroExit: false });
  expect(await client.registerPythonFunction(STATS, { name: 'stats', entrypoint: 'main' })).toBe(fn);
  const taskId = await client.run(fn, endpoint.endpointId, [5], { scale: 2 });
  const value = await client.getResult<{ mean: number; std: number; numpy: string }>(taskId, { timeoutMs: 60_000 });
  expect(value).toMatchObject({ mean: 4, std: Math.sqrt(8) });
  expect(value.numpy).toMatch(/^\d+\.\d+/);
  const task = await client.getTask(taskId);
  expect(task.output).toEqual({ stdout: '5 values\n', stderr: '' });
  for await (const outcome of client.results([taskId])) expect(outcome.output).toEqual({ stdout: '5 values\n', stderr: '' });
});

it("fails a raised exception with its type, message and a traceback of the user's lines, without FX's frames", async () => {
  const source =
    'def check(x):\n    if x < 0:\n        raise ValueError(f"negative: {x}")\n    return x\n\ndef main(x):\n    print("checking", x)\n    return check(x)\n';
  const fn = await client.registerPythonFunction(source, { name: 'check', entrypoint: 'main' });
  const error = await failure(client.getResult(await client.run(fn, endpoint.endpointId, [-1]), { timeoutMs: 60_000 }));
  expect(error).toBeInstanceOf(TaskFailedError);
  const failed = error as TaskFailedError;
  expect(failed).toMatchObject({
    code: 'TASK_ERROR',
    remoteName: 'ValueError',
    remoteMessage: 'negative: -1',
    output: { stdout: 'checking -1\n', stderr: '' },
  });
  expect(failed.remoteStack).toMatch(/^Traceback \(most recent call last\):\n {2}File "fx-function-[0-9a-f]{12}\.py", line 8, in main\n/);
  expect(failed.remoteStack).toContain('line 3, in check\n    raise ValueError(f"negative: {x}")');
  expect(failed.remoteStack).not.toMatch(/fx_worker|worker\.py/);
  expect(await client.getResult(await client.run(fn, endpoint.endpointId, [3]), { timeoutMs: 60_000 })).toBe(3);
});

it('stops a task at its walltime, and a cancelled sleeping task, keeping the pool usable', async () => {
  const slow = await client.registerPythonFunction(SLEEPER, { name: 'slow', entrypoint: 'main', walltimeSeconds: 1 });
  const started = Date.now();
  const walltime = await failure(client.getResult(await client.run(slow, endpoint.endpointId, [60]), { timeoutMs: 60_000 }));
  expect(walltime).toMatchObject({ code: 'WALLTIME_EXCEEDED' });
  expect(Date.now() - started).toBeLessThan(30_000);

  const sleeper = await client.registerPythonFunction(SLEEPER, { name: 'sleeper', entrypoint: 'main' });
  const taskId = await client.run(sleeper, endpoint.endpointId, [60]);
  await eventually(async () => (await client.getTask(taskId)).status === 'running', 30_000, 'the sleeper running');
  expect(await client.cancel(taskId)).toMatchObject({ cancelled: true });
  expect(await failure(client.getResult(taskId, { timeoutMs: 30_000 }))).toBeInstanceOf(TaskCancelledError);
  expect(await client.getResult(await client.run(sleeper, endpoint.endpointId, [0]), { timeoutMs: 60_000 })).toBe('woke up');
});

it('fails only the task of a python worker killed mid-task (WORKER_LOST), and the pool recovers', async () => {
  const sleeper = await client.registerPythonFunction(SLEEPER, { name: 'victim', entrypoint: 'main' });
  const taskId = await client.run(sleeper, endpoint.endpointId, [60]);
  await eventually(async () => (await client.getTask(taskId)).status === 'running', 30_000, 'the victim running');
  const pids = await pythonWorkerPids(endpoint.pid!);
  expect(pids.length).toBeGreaterThan(0);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  expect(await failure(client.getResult(taskId, { timeoutMs: 60_000 }))).toMatchObject({ code: 'WORKER_LOST' });
  expect(await client.getResult(await client.run(sleeper, endpoint.endpointId, [0]), { timeoutMs: 60_000 })).toBe('woke up');
  await eventually(async () => (await pythonWorkerPids(endpoint.pid!)).filter((p) => !pids.includes(p)).length === 2, 30_000, 'two fresh python workers');
});

it('runs a batch of 200 through the TypeScript SDK, results in order', async () => {
  const fn = await client.registerPythonFunction('def main(i):\n    return {"i": i, "square": i * i}\n', { name: 'square', entrypoint: 'main' });
  const ids = await client.runBatch(
    endpoint.endpointId,
    Array.from({ length: 200 }, (_, i) => ({ functionId: fn, args: [i] })),
  );
  const results = await client.getResults<{ i: number; square: number }>(ids, { timeoutMs: 120_000 });
  expect(results).toEqual(Array.from({ length: 200 }, (_, i) => ({ i, square: i * i })));
});

it('refuses a result JSON would not carry, with its path', async () => {
  const fn = await client.registerPythonFunction('def main():\n    return {"x": [1, float("nan")]}\n', { name: 'nan', entrypoint: 'main' });
  expect(await failure(client.getResult(await client.run(fn, endpoint.endpointId), { timeoutMs: 60_000 }))).toMatchObject({
    remoteName: 'ResultNotSerializable',
    remoteMessage: 'the result cannot travel as JSON: result.x[1]: nan is not a JSON number; use None or a string',
  });
});

it('shell: failOnNonZeroExit fails a non-zero exit with its output; without it the returncode is the result', async () => {
  const strict = await client.registerShellFunction('echo out; echo err >&2; exit {code}', { name: 'strict', failOnNonZeroExit: true });
  const lenient = await client.registerShellFunction('echo out; echo err >&2; exit {code}', { name: 'lenient' });
  expect(strict).not.toBe(lenient);
  expect(await client.getFunction(strict)).toMatchObject({ failOnNonZeroExit: true, entrypoint: null });
  const error = await failure(client.getResult(await client.run(strict, endpoint.endpointId, [], { code: 3 }), { timeoutMs: 60_000 }));
  expect(error).toMatchObject({ code: 'NON_ZERO_EXIT', remoteName: 'NonZeroExit', output: { stdout: 'out\n', stderr: 'err\n' } });
  expect((error as TaskFailedError).remoteMessage).toMatch(/^the command exited with status 3: /);
  expect(await client.getResult(await client.run(strict, endpoint.endpointId, [], { code: 0 }), { timeoutMs: 60_000 })).toMatchObject({ returncode: 0 });
  expect(await client.getResult(await client.run(lenient, endpoint.endpointId, [], { code: 3 }), { timeoutMs: 60_000 })).toMatchObject({
    returncode: 3,
    stdout: 'out\n',
  });
});

it('refuses an entry point for other runtimes, and a python function without one', async () => {
  await expect(client.createFunction({ name: 'x', runtime: 'js', source: '() => 1', entrypoint: 'main' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  await expect(client.createFunction({ name: 'x', runtime: 'python', source: 'def main(): pass' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  // and the server says so itself, whatever a client checked before sending
  const res = await fetch(`${server.url}/v1/functions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'x', runtime: 'shell', source: 'true', entrypoint: 'main' }),
  });
  expect(res.status).toBe(400);
  expect(await res.json()).toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringContaining('entrypoint applies to python functions only') });
});
