import { jest } from '@jest/globals';
import { cp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually, exited, tempDir, type TempDir } from '@fx/testing';

/**
 * Issue 10, item 4, with real processes (the built server and two `fx-endpoint` agents on one endpoint
 * config, as when it is copied to a second machine): the second agent is refused with a sentence that
 * names the running one and exits non-zero; 200 tasks submitted meanwhile each run exactly once; and
 * `start --takeover` replaces the first, which exits and does not come back.
 */
jest.setTimeout(300_000);

describe.each(['embedded', 'postgres+redis'] as const)('two agents on one endpoint config on %s', (backend) => {
  let server: ServerProcess;
  let first: EndpointProcess;
  // further agents, each on a copy of the first one's FX_HOME (same endpoint, same token)
  let copies: EndpointProcess[] = [];
  let client: Client;
  let runs: TempDir;

  beforeAll(async () => {
    server = await ServerProcess.start(backend, { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000', FX_SWEEP_INTERVAL_MS: '500' });
    first = await EndpointProcess.configure(server, 'dup', { workers: 4 });
    // The tasks count their runs in a file of the test's: outside a sandbox, whose /tmp is private.
    await first.mergeConfig({ sandbox: 'none' });
    copies = [];
    for (let i = 0; i < 2; i++) {
      const home = await tempDir('fx-e2e-home-copy');
      await cp(first.home.path, home.path, { recursive: true });
      copies.push(new EndpointProcess('dup', home));
    }
    client = new Client({ url: server.url, token: server.adminToken });
    runs = await tempDir('fx-runs');
  });

  afterAll(async () => {
    client?.close();
    for (const c of copies) await c.stop();
    await first?.stop();
    await server?.stop();
    await runs?.remove();
  });

  it('refuses the second agent with a sentence, runs 200 tasks exactly once, and --takeover replaces the first', async () => {
    first.start();
    await eventually(async () => (await client.getEndpoint(first.endpointId)).state === 'online', 30_000, 'first agent online');
    const firstPid = first.child!.pid!;

    const log = join(runs.path, 'runs.log');
    const fn = await client.registerShellFunction(`sleep 0.02; echo {i} >> ${log}`, { name: 'count' });
    const ids = await client.runBatch(
      first.endpointId,
      Array.from({ length: 200 }, (_, i) => ({ functionId: fn, kwargs: { i } })),
    );

    // the second agent starts while the tasks run: refused, exits non-zero, names the running one
    const second = copies[0]!.start();
    const code = await exited(second, 30_000);
    expect(code).not.toBe(0);
    expect(copies[0]!.log()).toMatch(/already served by another agent/);
    expect(copies[0]!.log()).toContain(`pid ${firstPid}`);
    expect(copies[0]!.log()).toMatch(/--takeover/);

    await client.getResults(ids, { timeoutMs: 120_000 });
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(200);
    expect(new Set(lines).size).toBe(200);
    expect(first.child!.exitCode).toBeNull();

    // --takeover: the first agent stops and stays stopped; the new one serves the endpoint
    const third = copies[1]!.start({ args: ['--takeover'] });
    const firstCode = await exited(first.child!, 30_000);
    expect(firstCode).not.toBe(0);
    expect(first.log()).toMatch(/taken over/);
    await eventually(
      async () => {
        const e = await client.getEndpoint(first.endpointId);
        return e.state === 'online' && e.agent?.pid === third.pid;
      },
      30_000,
      'the new agent online',
    );
    const more = await client.runBatch(
      first.endpointId,
      Array.from({ length: 20 }, (_, i) => ({ functionId: fn, kwargs: { i: 1000 + i } })),
    );
    await client.getResults(more, { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 2_000));
    expect(third.exitCode).toBeNull();
    expect((await client.getEndpoint(first.endpointId)).agent?.pid).toBe(third.pid);
    const all = (await readFile(log, 'utf8')).trim().split('\n');
    expect(all).toHaveLength(220);
    expect(new Set(all).size).toBe(220);
  });
});
