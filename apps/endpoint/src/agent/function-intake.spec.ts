import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TaskSpec } from '@fx/protocol';
import { functionContentHash } from '@fx/protocol/node';
import type { Provider, ProviderStatus } from '../providers/provider.js';
import type { ExecutionOutcome } from '../runtimes/task.errors.js';
import { stopAll } from '../testing/agent.harness.js';
import { FakeFxServer } from '../testing/fake-fx-server.js';
import { makeTask } from '../testing/task.factory.js';
import { EndpointAgent } from './endpoint.agent.js';

/** Keeps every spec it is handed: what the runtimes would see. */
class RecordingProvider implements Provider {
  readonly name = 'recording';
  readonly got: TaskSpec[] = [];
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  capacity(): number {
    return 4;
  }
  async submit(task: TaskSpec): Promise<ExecutionOutcome> {
    this.got.push(task);
    return { status: 'success', result: 'ran' };
  }
  status(): ProviderStatus {
    return { workers: { total: 4, busy: 0, idle: 4 }, pids: [], processGroups: [] };
  }
}

/** A `tasks` frame names functions by id; the agent resolves them from the frame or from what this connection was sent. */
describe('the agent resolves the functions of a tasks frame', () => {
  let server: FakeFxServer;
  let agent: EndpointAgent;
  let provider: RecordingProvider;
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fx-intake-'));
    server = new FakeFxServer();
    provider = new RecordingProvider();
    agent = new EndpointAgent({ url: await server.listen(), token: server.endpointToken, name: 'intake', provider, spoolDir: join(dir, 'spool') });
    await agent.start();
    await server.waitFor(() => server.current?.hello !== undefined, 'hello');
  });

  afterEach(() => stopAll(agent, server, dir));

  const wire = ({ function: fn, ...rest }: TaskSpec) => ({ ...rest, functionId: fn.id });

  it('runs a task whose function came in an earlier frame, with the full spec and the owner id', async () => {
    const ownerId = randomUUID();
    const first = { ...makeTask('js', '(x) => x', { args: [1] }), ownerId };
    const second = { ...first, taskId: randomUUID(), args: [2] };
    server.send('tasks', { functions: [first.function], tasks: [wire(first)] });
    server.send('tasks', { functions: [], tasks: [wire(second)] });
    await server.waitFor(() => server.results.size === 2, 'both results');
    expect(server.results.get(second.taskId)).toMatchObject({ status: 'success', result: 'ran' });
    expect(provider.got.find((t) => t.taskId === second.taskId)).toEqual(second);
  });

  it('fails a task naming a function it was never sent with BAD_FRAME, without running it', async () => {
    const task = makeTask('js', '(x) => x');
    server.send('tasks', { functions: [], tasks: [wire(task)] });
    await server.waitFor(() => server.results.size === 1, 'the result');
    expect(server.results.get(task.taskId)).toMatchObject({ status: 'failed', error: { code: 'BAD_FRAME' } });
    expect(provider.got).toEqual([]);
  });

  it('still checks the content hash of a spec it resolved from its cache', async () => {
    const forged = makeTask('js', '(x) => x', { contentHash: 'f'.repeat(64) });
    const again = { ...forged, taskId: randomUUID() };
    server.send('tasks', { functions: [forged.function], tasks: [wire(forged)] });
    server.send('tasks', { functions: [], tasks: [wire(again)] });
    await server.waitFor(() => server.results.size === 2, 'both results');
    for (const t of [forged, again]) expect(server.results.get(t.taskId)).toMatchObject({ status: 'failed', error: { code: 'CONTENT_HASH_MISMATCH' } });
    expect(provider.got).toEqual([]);
  });

  it('passes pickled arguments to a python function, and refuses them for any other runtime', async () => {
    const pickledArgs = { $fx: 'pickle', python: '3.11', pickler: 'pickle', data: 'gASVBgAAAAAAAAApfZSGlC4=' } as const;
    const source = 'def f():\n    return 1\n';
    const base = makeTask('python', source);
    const fn = { ...base.function, entrypoint: 'f', contentHash: functionContentHash('python', source, { entrypoint: 'f' }) };
    const python = { ...base, function: fn, pickledArgs };
    const js = { ...makeTask('js', '() => 1'), pickledArgs };
    server.send('tasks', { functions: [python.function, js.function], tasks: [wire(python), wire(js)] });
    await server.waitFor(() => server.results.size === 2, 'both results');
    expect(provider.got).toEqual([python]);
    expect(server.results.get(js.taskId)).toMatchObject({
      status: 'failed',
      error: { code: 'RUNTIME_UNSUPPORTED', message: expect.stringMatching(/^pickled arguments are for python functions/) },
    });
  });
});
