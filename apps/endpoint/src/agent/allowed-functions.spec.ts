import { jest } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WelcomePayload, type TaskSpec } from '@fx/protocol';
import type { Provider, ProviderStatus } from '../providers/provider.js';
import type { ExecutionOutcome } from '../runtimes/task.errors.js';
import { FakeFxServer } from '../testing/fake-fx-server.js';
import { makeTask } from '../testing/task.factory.js';
import { EndpointAgent } from './endpoint.agent.js';

/** Runs every task it is given and remembers which: the agent must not even hand it a refused one. */
class RecordingProvider implements Provider {
  readonly name = 'recording';
  readonly ran: string[] = [];
  constructor(private readonly sandbox?: ProviderStatus['sandbox']) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  capacity(): number {
    return 2;
  }
  async submit(task: TaskSpec): Promise<ExecutionOutcome> {
    this.ran.push(task.taskId);
    return { status: 'success', result: 'ran' };
  }
  status(): ProviderStatus {
    return { workers: { total: 2, busy: 0, idle: 2 }, pids: [], processGroups: [], ...(this.sandbox ? { sandbox: this.sandbox } : {}) };
  }
}

describe("the agent enforces its endpoint's allowedFunctions (sent in welcome)", () => {
  let server: FakeFxServer;
  let agent: EndpointAgent;
  let dir: string;
  const allowed = makeTask('js', '(x) => x', { args: [1] });
  const other = makeTask('js', '(x) => x * 2', { args: [1] });

  afterEach(async () => {
    await agent?.stop({ force: true });
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function run(allowedFunctions: string[] | null) {
    dir = await mkdtemp(join(tmpdir(), 'fx-allowed-'));
    server = new FakeFxServer({ welcome: { allowedFunctions } });
    const provider = new RecordingProvider();
    agent = new EndpointAgent({ url: await server.listen(), token: server.endpointToken, name: 'restricted', provider, spoolDir: join(dir, 'spool') });
    await agent.start();
    server.enqueue(allowed, other);
    await server.waitFor(() => server.results.size === 2, 'both results');
    return provider;
  }

  it('refuses a function not on the list with FUNCTION_NOT_ALLOWED, without running it', async () => {
    const provider = await run([allowed.function.id]);
    expect(server.results.get(allowed.taskId)).toMatchObject({ status: 'success', result: 'ran' });
    expect(server.results.get(other.taskId)).toMatchObject({ status: 'failed', error: { code: 'FUNCTION_NOT_ALLOWED' } });
    expect(provider.ran).toEqual([allowed.taskId]);
  });

  it('runs anything when the endpoint is not restricted (null)', async () => {
    const provider = await run(null);
    expect(provider.ran.sort()).toEqual([allowed.taskId, other.taskId].sort());
  });

  it('parses a welcome from an older server (no allowedFunctions) as unrestricted', () => {
    const old = {
      endpointId: allowed.function.id,
      endpointName: 'x',
      heartbeatIntervalMs: 1,
      heartbeatTimeoutMs: 3,
      maxTasksPerFrame: 1,
      maxResultBytes: 1,
      forget: [],
    };
    expect(WelcomePayload.parse(old).allowedFunctions).toBeNull();
  });
});

describe("the agent runs another user's task only where tasks are isolated (bubblewrap)", () => {
  const OWNER = '00000000-0000-4000-8000-0000000000a1';
  const OTHER = '00000000-0000-4000-8000-0000000000b2';
  let server: FakeFxServer;
  let agent: EndpointAgent;
  let dir: string;

  afterEach(async () => {
    jest.restoreAllMocks();
    await agent?.stop({ force: true });
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function run(sandbox: ProviderStatus['sandbox'], ownerId: string | undefined) {
    dir = await mkdtemp(join(tmpdir(), 'fx-owners-'));
    server = new FakeFxServer({ welcome: ownerId ? { ownerId } : {} });
    const provider = new RecordingProvider(sandbox);
    agent = new EndpointAgent({ url: await server.listen(), token: server.endpointToken, name: 'shared', provider, spoolDir: join(dir, 'spool') });
    await agent.start();
    const [own, foreign, unnamed] = [OWNER, OTHER, undefined].map((owner) => ({
      ...makeTask('js', '(x) => x', { args: [1] }),
      ...(owner ? { ownerId: owner } : {}),
    }));
    server.enqueue(own!, foreign!, unnamed!);
    await server.waitFor(() => server.results.size === 3, 'three results');
    return { provider, own: own!.taskId, foreign: foreign!.taskId, unnamed: unnamed!.taskId };
  }

  it.each(['none', 'uid', 'bwrap-userns', undefined] as const)(
    'fails another user’s task ISOLATION_REQUIRED under sandbox %s, and runs its owner’s',
    async (sandbox) => {
      const { provider, own, foreign, unnamed } = await run(sandbox, OWNER);
      expect(server.results.get(foreign)).toMatchObject({ status: 'failed', error: { code: 'ISOLATION_REQUIRED' } });
      expect((server.results.get(foreign) as { error: { message: string } }).error.message).toMatch(/runs only its owner's tasks/);
      expect(provider.ran.sort()).toEqual([own, unnamed].sort());
      // and says so ahead, so that endpoint group routing sends it no other user's task
      await server.waitFor(() => server.framesOf('heartbeat').length > 0, 'a heartbeat');
      expect(server.framesOf('heartbeat')[0]).toMatchObject({ ownerOnly: true });
    },
  );

  it('runs every user’s task under bubblewrap, and everything when the server does not name the owner', async () => {
    // an agent run by a user other than root (one run by root: next test)
    jest.spyOn(process, 'getuid').mockReturnValue(1000);
    const isolated = await run('bwrap', OWNER);
    expect(isolated.provider.ran).toHaveLength(3);
    await server.waitFor(() => server.framesOf('heartbeat').length > 0, 'a heartbeat');
    expect(server.framesOf('heartbeat')[0]!.ownerOnly).toBeUndefined();
    await agent.stop({ force: true });
    await server.close();
    const older = await run('none', undefined);
    expect(older.provider.ran).toHaveLength(3);
  });

  it('runs only its owner’s tasks under bubblewrap when run by root, whose tasks still own its files', async () => {
    jest.spyOn(process, 'getuid').mockReturnValue(0);
    const { provider, own, foreign, unnamed } = await run('bwrap', OWNER);
    expect(server.results.get(foreign)).toMatchObject({ status: 'failed', error: { code: 'ISOLATION_REQUIRED' } });
    expect((server.results.get(foreign) as { error: { message: string } }).error.message).toMatch(/under bubblewrap as root.*unprivileged user/);
    expect(provider.ran.sort()).toEqual([own, unnamed].sort());
    await server.waitFor(() => server.framesOf('heartbeat').length > 0, 'a heartbeat');
    expect(server.framesOf('heartbeat')[0]).toMatchObject({ ownerOnly: true });
  });
});
