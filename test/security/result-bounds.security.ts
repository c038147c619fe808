import { jest } from '@jest/globals';
import { startTestServer, type TestServer } from '../../apps/server/src/testing/test-server.js';
import { ProtocolPeer } from '../../apps/server/src/testing/protocol-peer.js';
import { mkUser, type TestUser } from './channels.fixture.js';

/**
 * Issue 10, item 7 and a low item: what an agent reports is bounded by the server, whatever the agent
 * claims.
 *  - a 20 MB heartbeat `details` never reaches the database (a marker says it was cut), and the agent stays;
 *  - a huge error message, stack and name are truncated with a marker;
 *  - a result with an out-of-range `startedAt` does not fail its frame: every result of it is recorded.
 */
jest.setTimeout(240_000);

describe.each(['embedded', 'postgres+redis'] as const)('bounded agent reports on %s', (backend) => {
  let server: TestServer;
  let user: TestUser;
  let fn: string;
  let ep: { id: string; token: string };
  let peer: ProtocolPeer;

  beforeAll(async () => {
    server = await startTestServer(backend, { FX_LOG_LEVEL: 'error', FX_RATE_LIMIT_PER_SECOND: '0' });
    user = await mkUser(server, 'carol');
    fn = (await user.api('POST', '/v1/functions', { name: 'f', runtime: 'js', source: '(x) => x' })).body.id;
    const e = await user.api('POST', '/v1/endpoints', { name: 'carol-ep' });
    ep = { id: e.body.endpoint.id, token: e.body.token };
    peer = await ProtocolPeer.connect(server.url, ep.token);
    peer.hello();
    await peer.next('welcome');
  });

  afterAll(async () => {
    peer?.close();
    await server?.stop();
  });

  async function leased(n: number): Promise<string[]> {
    const ids: string[] = [];
    peer.send('credits', { credits: n });
    for (let i = 0; i < n; i++) ids.push((await user.api('POST', '/v1/tasks', { functionId: fn, endpointId: ep.id, args: [i] })).body.taskId);
    await peer.tasks(n);
    return ids;
  }

  it('a 20 MB heartbeat details does not reach the database, and the agent stays connected', async () => {
    const heartbeat = { state: 'RUNNING', workers: { total: 1, busy: 0, idle: 1 }, queued: 0, running: 0, spooled: 0, provider: 'test' };
    // the first heartbeat of a connection is written at once
    peer.send('heartbeat', { ...heartbeat, details: { blob: 'x'.repeat(20 * 1024 * 1024) } });
    let status: any;
    for (let i = 0; i < 100; i++) {
      status = (await user.api('GET', `/v1/endpoints/${ep.id}/status`)).body;
      if (status?.status?.details) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const stored = JSON.stringify(status.status.details);
    expect(stored.length).toBeLessThan(16 * 1024);
    expect(stored).toMatch(/\[truncated \d+ bytes/);
    expect(peer.closed).toBeNull();
    const [id] = await leased(1);
    peer.send('results', { results: [{ taskId: id!, attempt: 0, status: 'success', result: 1, timings: {} }] });
    await peer.next('ack');
  });

  it('huge error messages, stacks and names are truncated with a marker', async () => {
    const [id] = await leased(1);
    const message = 'm'.repeat(3 * 1024 * 1024);
    const stack = 's'.repeat(2 * 1024 * 1024);
    peer.send('results', {
      results: [{ taskId: id!, attempt: 0, status: 'failed', error: { code: 'TASK_ERROR', name: 'N'.repeat(100_000), message, stack }, timings: {} }],
    });
    await peer.next('ack', 30_000);
    const task = (await user.api('GET', `/v1/tasks/${id}`)).body;
    expect(task.status).toBe('failed');
    expect(Buffer.byteLength(task.error.message)).toBeLessThan(5 * 1024);
    expect(task.error.message).toMatch(/^m+… \[truncated \d+ bytes\]$/);
    expect(Buffer.byteLength(task.error.stack)).toBeLessThan(17 * 1024);
    expect(task.error.stack).toMatch(/… \[truncated \d+ bytes\]$/);
    expect(task.error.name.length).toBeLessThan(300);
  });

  it('what a task printed is cut to the last MiB of each stream, marked, and stored beside the result; nothing when it printed nothing', async () => {
    const [big, quiet] = await leased(2);
    // 3 MiB with NUL characters, and a surrogate pair where the cut falls: stored as readable text
    const stdout = '\u0000'.repeat(10) + 'o'.repeat(2 * 1024 * 1024) + '\u{1F600}' + 'x'.repeat(1024 * 1024 - 1);
    peer.send('results', {
      results: [
        { taskId: big!, attempt: 0, status: 'success', result: 1, output: { stdout, stderr: 'warning\n' }, timings: {} },
        { taskId: quiet!, attempt: 0, status: 'success', result: 2, output: { stdout: '', stderr: '' }, timings: {} },
      ],
    });
    await peer.next('ack', 30_000);
    const task = (await user.api('GET', `/v1/tasks/${big}`)).body;
    expect(task).toMatchObject({ status: 'success', result: 1, output: { stderr: 'warning\n', truncated: true } });
    expect(task.output.stdout.length).toBeLessThanOrEqual(1024 * 1024);
    expect(task.output.stdout.endsWith('x'.repeat(1000))).toBe(true);
    expect(task.output.stdout).not.toMatch(/^[\uDC00-\uDFFF]/);
    const results = (await user.api('POST', '/v1/tasks/results', { taskIds: [big, quiet] })).body;
    expect(results.tasks[0].output.truncated).toBe(true);
    expect(results.tasks[1]).not.toHaveProperty('output');
    expect((await user.api('GET', `/v1/tasks/${quiet}`)).body).not.toHaveProperty('output');
  });

  it('an out-of-range startedAt does not fail its frame: every result is recorded, with sane timings', async () => {
    const ids = await leased(3);
    peer.send('started', { tasks: [{ taskId: ids[0]!, startedAt: 1e20 }] });
    peer.send('results', {
      results: [
        { taskId: ids[0]!, attempt: 0, status: 'success', result: 'a', timings: { startedAt: 1e20, finishedAt: -1e20 } },
        { taskId: ids[1]!, attempt: 0, status: 'success', result: 'b', timings: { startedAt: Date.now() - 5, finishedAt: Date.now() } },
        { taskId: ids[2]!, attempt: 0, status: 'failed', error: { code: 'TASK_ERROR', name: 'E', message: 'boom' }, timings: { startedAt: -5e15 } },
      ],
    });
    const ack = await peer.next('ack', 15_000);
    expect(ack.payload.taskIds.sort()).toEqual([...ids].sort());
    expect(peer.closed).toBeNull();
    const tasks = await Promise.all(ids.map(async (id) => (await user.api('GET', `/v1/tasks/${id}`)).body));
    expect(tasks.map((t) => t.status)).toEqual(['success', 'success', 'failed']);
    expect(tasks.map((t) => t.result ?? null)).toEqual(['a', 'b', null]);
  });
});
