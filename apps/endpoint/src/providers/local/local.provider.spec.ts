import { jest } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '@fx/testing';
import { EndpointAgent } from '../../agent/endpoint.agent.js';
import { runningAgent, stopAll } from '../../testing/agent.harness.js';
import { FakeFxServer } from '../../testing/fake-fx-server.js';
import { makeTask } from '../../testing/task.factory.js';
import { ensureEndpointBuilt } from '../../testing/worker-build.js';
import { LOCAL_WORKER_DEPTH, LocalProvider } from './local.provider.js';

const until = (predicate: () => boolean) => eventually(predicate, 20_000, 'condition', { intervalMs: 20 });

describe('LocalProvider with the agent', () => {
  const { workerScript } = ensureEndpointBuilt();
  let dir: string;
  let server: FakeFxServer;
  let agent: EndpointAgent;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fx-local-spec-'));
    server = new FakeFxServer({ welcome: { maxResultBytes: 4096 } });
    const url = await server.listen();
    const provider = new LocalProvider({ workers: 2, workerScript, workRoot: dir, shellOutputLines: 5 });
    agent = await runningAgent(server, url, dir, { name: 'local', provider });
  });
  afterEach(() => stopAll(agent, server, dir));

  it('runs js and shell tasks end to end, with walltime, crashes and large results', async () => {
    const tasks = {
      add: makeTask('js', '(a, b) => a + b', { args: [2, 3] }),
      kw: makeTask('js', '(a, { scale }) => a * scale', { args: [4], kwargs: { scale: 10 } }),
      crash: makeTask('js', '() => process.exit(1)'),
      slow: makeTask('js', '() => { for (;;) {} }', { walltimeSeconds: 0.3 }),
      big: makeTask('js', '() => "x".repeat(10000)'),
      shell: makeTask('shell', 'echo {word}; seq 1 20', { kwargs: { word: `it's "quoted"` } }),
      sleepy: makeTask('shell', 'sleep 20', { walltimeSeconds: 0.3 }),
      after: makeTask('js', '() => "still works"'),
    };
    server.enqueue(...Object.values(tasks));
    await server.waitFor(() => server.results.size === Object.keys(tasks).length, 'every result', 30_000);
    const result = (t: { taskId: string }) => server.results.get(t.taskId);
    expect(result(tasks.add)).toMatchObject({ status: 'success', result: 5, timings: { workerId: expect.stringMatching(/^w\d-/) } });
    expect(result(tasks.kw)).toMatchObject({ status: 'success', result: 40 });
    expect(result(tasks.crash)).toMatchObject({ status: 'failed', error: { code: 'WORKER_LOST', name: 'WorkerLost' } });
    expect(result(tasks.slow)).toMatchObject({ status: 'failed', error: { code: 'WALLTIME_EXCEEDED' } });
    // past the server's inline limit a result travels as an object rather than failing RESULT_TOO_LARGE
    expect(result(tasks.big)).toMatchObject({ status: 'success', resultRef: { encoding: 'json', size: 10002 } });
    expect(server.objects.content(result(tasks.big)!.resultRef!.id)?.toString()).toBe(JSON.stringify('x'.repeat(10000)));
    expect(result(tasks.shell)).toMatchObject({ status: 'success', result: { stdout: '16\n17\n18\n19\n20\n', returncode: 0 } });
    expect(result(tasks.sleepy)).toMatchObject({ status: 'success', result: { returncode: 124 } });
    expect(result(tasks.after)).toMatchObject({ status: 'success', result: 'still works' });
  });

  it('reports busy and idle workers', async () => {
    const sleeper = makeTask('shell', 'sleep 20');
    server.enqueue(sleeper);
    await until(() => agent.snapshot().processes.processGroups.length === 1);
    expect(agent.snapshot().workers).toEqual({ total: 2, busy: 1, idle: 1 });
    server.send('cancel', { taskIds: [sleeper.taskId] });
    await until(() => agent.snapshot().workers.busy === 0);
    expect(agent.snapshot().workers).toEqual({ total: 2, busy: 0, idle: 2 });
  });
});

describe('LocalProvider with a task that ends its worker', () => {
  const { workerScript } = ensureEndpointBuilt();
  jest.setTimeout(60_000);

  it('keeps the result of the task before it on the same worker, a large inline one included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fx-local-spec-'));
    // results up to 2 MiB travel inline, so the `done` before the crash takes several reads of the link
    const server = new FakeFxServer({ welcome: { maxResultBytes: 4 * 1024 * 1024, inlineResultBytes: 2 * 1024 * 1024 } });
    const url = await server.listen();
    const provider = new LocalProvider({ workers: 1, workerScript, workRoot: dir });
    const agent = await runningAgent(server, url, dir, { name: 'local', provider });
    try {
      const kept = [makeTask('js', '() => 7'), makeTask('js', '() => "y".repeat(1_500_000)'), makeTask('js', '(n) => n + 1', { args: [41] })];
      // one worker: each task waits behind the one before it there, and each is followed by a crash
      server.enqueue(...kept.flatMap((t) => [t, makeTask('js', '() => process.exit(3)')]));
      await server.waitFor(() => server.results.size === 2 * kept.length, 'every result', 50_000);
      expect(server.results.get(kept[0]!.taskId)).toMatchObject({ status: 'success', result: 7 });
      const big = server.results.get(kept[1]!.taskId);
      expect(big?.status).toBe('success');
      // compared whole, not diffed: a failure would print 1.5 MB
      expect(big?.status === 'success' && big.result === 'y'.repeat(1_500_000)).toBe(true);
      expect(server.results.get(kept[2]!.taskId)).toMatchObject({ status: 'success', result: 42 });
    } finally {
      await stopAll(agent, server, dir);
    }
  });
});

describe('LocalProvider slots', () => {
  const { workerScript } = ensureEndpointBuilt();
  // starting a worker process is seconds on a loaded machine
  jest.setTimeout(30_000);

  it('lets the agent hand over LOCAL_WORKER_DEPTH tasks per worker but runs no more than `workers` at once, js and shell together', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fx-local-slots-'));
    const provider = new LocalProvider({ workers: 1, workerScript, workRoot: dir });
    await provider.start();
    try {
      expect(provider.capacity()).toBe(LOCAL_WORKER_DEPTH);
      const starts: string[] = [];
      const shell = makeTask('shell', 'sleep 0.3; date +%s%3N');
      const js = makeTask('js', '() => Date.now()');
      const context = (name: string) => ({ maxResultBytes: 4096, onStart: () => starts.push(name) });
      const [shellOutcome, jsOutcome] = await Promise.all([
        provider.submit(shell, new AbortController().signal, context('shell')),
        provider.submit(js, new AbortController().signal, context('js')),
      ]);
      expect(starts).toEqual(['shell', 'js']);
      const shellEnd = Number((shellOutcome as { result: { stdout: string } }).result.stdout.trim());
      expect((jsOutcome as { result: number }).result).toBeGreaterThanOrEqual(shellEnd);
      expect(provider.status().workers).toEqual({ total: 1, busy: 0, idle: 1 });
    } finally {
      await provider.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
