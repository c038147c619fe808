import { jest } from '@jest/globals';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess } from '@fx/testing';
import { startLeakyEndpoint } from './sandbox.helper.js';

/**
 * Issue 10 item 11: every task is bounded by the endpoint's taskLimits: no walltime means the default
 * (not forever), and a task whose processes pass memoryMB fails MEMORY_EXCEEDED on a fresh worker.
 */
jest.setTimeout(180_000);

async function failureCode(client: Client, taskId: string): Promise<string> {
  try {
    const value = await client.getResult(taskId, { timeoutMs: 60_000 });
    return `succeeded: ${JSON.stringify(value).slice(0, 200)}`;
  } catch (error) {
    return (error as { code: string }).code;
  }
}

describe.each(['embedded', 'postgres+redis'] as const)('taskLimits (%s)', (backend) => {
  let server: ServerProcess;
  let endpoint: EndpointProcess;
  let client: Client;

  beforeAll(async () => {
    server = await ServerProcess.start(backend);
    endpoint = await startLeakyEndpoint(server, 'bounded', { taskLimits: { walltimeSeconds: { default: 2, max: 8 }, memoryMB: { default: 256, max: 512 } } });
    client = new Client({ url: server.url, token: server.adminToken });
  });

  afterAll(async () => {
    client?.close();
    await endpoint?.stop();
    await server?.stop();
  });

  it('fails an endless loop with no walltime WALLTIME_EXCEEDED at the endpoint default, and caps a longer request at the max', async () => {
    const spin = await client.registerFunction(
      () => {
        for (;;) {
          // forever
        }
      },
      { name: 'spin' },
    );
    expect(await failureCode(client, await client.run(spin, endpoint.endpointId))).toBe('WALLTIME_EXCEEDED');
    const asked = await client.run(spin, endpoint.endpointId, [], {}, { resources: { walltimeSeconds: 3600 } });
    // Capped at the 8 s max, not the hour asked for (failureCode gives up after 60 s).
    expect(await failureCode(client, asked)).toBe('WALLTIME_EXCEEDED');
  });

  it('fails a js task allocating 3 GB off-heap MEMORY_EXCEEDED, and the next task runs fine', async () => {
    const hog = await client.registerFunction(
      () => {
        const held: Buffer[] = [];
        for (let i = 0; i < 12; i++) held.push(Buffer.alloc(256 * 1024 * 1024, 1));
        return held.length;
      },
      { name: 'hog' },
    );
    expect(await failureCode(client, await client.run(hog, endpoint.endpointId, [], {}, { resources: { walltimeSeconds: 8 } }))).toBe('MEMORY_EXCEEDED');
    const add = await client.registerFunction((a: number, b: number) => a + b, { name: 'add' });
    expect(await client.getResult(await client.run(add, endpoint.endpointId, [1, 2]), { timeoutMs: 30_000 })).toBe(3);
  });

  it('fails a shell task allocating too much MEMORY_EXCEEDED', async () => {
    const sh = await client.registerShellFunction(`python3 -c "b = b'x' * (1 << 30); import time; time.sleep(20)"`, { name: 'pyhog' });
    // Its own walltime (within the max) leaves a loaded machine time to allocate: memory is what stops it.
    expect(await failureCode(client, await client.run(sh, endpoint.endpointId, [], {}, { resources: { walltimeSeconds: 8 } }))).toBe('MEMORY_EXCEEDED');
    const echo = await client.registerShellFunction('echo {msg}', { name: 'echo' });
    expect(await client.getResult(await client.run(echo, endpoint.endpointId, [], { msg: 'still here' }), { timeoutMs: 30_000 })).toMatchObject({
      stdout: 'still here\n',
    });
  });
});
