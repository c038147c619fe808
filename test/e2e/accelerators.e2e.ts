import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { parse, stringify } from 'yaml';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually } from '@fx/testing';

/**
 * GPU pinning on the local provider, with real processes. This machine has no GPU: a configured device
 * list proves the pinning (each worker sees exactly its device), and `auto` proves its "none found" path.
 */
jest.setTimeout(180_000);

async function configured(server: ServerProcess, name: string, extra: Record<string, unknown>): Promise<EndpointProcess> {
  const ep = await EndpointProcess.configure(server, name, { workers: 3 });
  const path = join(ep.home.path, 'endpoints', name, 'config.yaml');
  await writeFile(path, stringify({ ...(parse(await readFile(path, 'utf8')) as object), ...extra }));
  ep.start();
  return ep;
}

describe('accelerator pinning (local provider)', () => {
  let server: ServerProcess;
  let pinned: EndpointProcess;
  let auto: EndpointProcess;
  let client: Client;

  beforeAll(async () => {
    server = await ServerProcess.start('embedded');
    // sandbox: none — workers are told apart by process.pid below, which bubblewrap's pid namespace hides.
    pinned = await configured(server, 'pinned', { accelerators: ['0', '1'], sandbox: 'none' });
    auto = await configured(server, 'auto', { accelerators: 'auto' });
    client = new Client({ url: server.url, token: server.adminToken });
    for (const ep of [pinned, auto]) {
      await eventually(async () => (await client.getEndpoint(ep.endpointId)).state === 'online', 30_000, `${ep.name} online`).catch((e) => {
        throw new Error(`${(e as Error).message}\n${ep.log()}`);
      });
    }
  });

  afterAll(async () => {
    client?.close();
    await pinned?.stop();
    await auto?.stop();
    await server?.stop();
  });

  it('runs one worker per device; each sees exactly its device, and gpus: 1 tasks report it', async () => {
    const fn = await client.registerFunction(
      async () => {
        await new Promise((r) => setTimeout(r, 100));
        return { pid: process.pid, cuda: process.env.CUDA_VISIBLE_DEVICES, rocr: process.env.ROCR_VISIBLE_DEVICES, ze: process.env.ZE_AFFINITY_MASK };
      },
      { name: 'which-gpu' },
    );
    const ids = await client.runBatch(
      pinned.endpointId,
      Array.from({ length: 20 }, () => ({ functionId: fn })),
      { resources: { gpus: 1 } },
    );
    const seen = (await client.getResults(ids, { timeoutMs: 60_000 })) as Array<{ pid: number; cuda: string; rocr: string; ze: string }>;
    const byPid = new Map<number, Set<string>>();
    for (const s of seen) {
      expect(s.rocr).toBe(s.cuda);
      expect(s.ze).toBe(s.cuda);
      byPid.set(s.pid, (byPid.get(s.pid) ?? new Set()).add(s.cuda));
    }
    // Two workers (not the 3 `workers` configured: never more workers than devices), one device each.
    expect(byPid.size).toBe(2);
    expect([...byPid.values()].map((d) => [...d])).toEqual(expect.arrayContaining([['0'], ['1']]));
    const shell = await client.registerShellFunction('echo $CUDA_VISIBLE_DEVICES', { name: 'which-gpu-sh' });
    const out = (await client.getResult(await client.run(shell, pinned.endpointId, [], {}, { resources: { gpus: 1 } }), { timeoutMs: 30_000 })) as {
      stdout: string;
    };
    expect(['0', '1']).toContain(out.stdout.trim());
    const status = JSON.parse(pinned.cli(['status', 'pinned', '--json']).stdout) as { status: { devices: Array<{ device: string; worker: string }> } };
    expect(status.status.devices.map((d) => d.device)).toEqual(['0', '1']);
    expect(pinned.cli(['status', 'pinned']).stdout).toMatch(/device 0:\s+w0-gpu0/);
    const two = await client.run(fn, pinned.endpointId, [], {}, { resources: { gpus: 2 } });
    await expect(client.getResult(two, { timeoutMs: 30_000 })).rejects.toMatchObject({ code: 'RESOURCES_UNAVAILABLE' });
    // accounting: a task that asked for nothing held its worker's one pinned device all the same
    const plain = await client.run(fn, pinned.endpointId);
    await client.getResult(plain, { timeoutMs: 30_000 });
    expect((await client.getTask(plain)).attempts[0]!.usage).toMatchObject({ cores: 1, gpus: 1 });
  });

  it('pins python workers too: each sees exactly its device, whatever the task', async () => {
    const fn = await client.registerPythonFunction(
      'import os, time\n\ndef main():\n    time.sleep(0.1)\n' +
        '    return [os.getpid()] + [os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "ZE_AFFINITY_MASK")]\n',
      { name: 'which-gpu-py', entrypoint: 'main' },
    );
    const ids = await client.runBatch(
      pinned.endpointId,
      Array.from({ length: 20 }, () => ({ functionId: fn })),
      { resources: { gpus: 1 } },
    );
    const seen = (await client.getResults(ids, { timeoutMs: 60_000 })) as Array<[number, string, string, string]>;
    const byPid = new Map<number, Set<string>>();
    for (const [pid, cuda, rocr, ze] of seen) {
      expect([rocr, ze]).toEqual([cuda, cuda]);
      byPid.set(pid, (byPid.get(pid) ?? new Set()).add(cuda));
    }
    // one python worker per device (a pool of one in each pinned slot), never sharing one
    expect([...byPid.values()].map((d) => [...d]).sort()).toEqual([['0'], ['1']]);
    const status = JSON.parse(pinned.cli(['status', 'pinned', '--json']).stdout) as { status: { python?: { available: boolean } } };
    expect(status.status.python).toMatchObject({ available: true });
  });

  it('auto says plainly that it found no GPU here, and a gpus: 1 task is refused rather than run unpinned', async () => {
    const status = auto.cli(['status', 'auto']).stdout;
    expect(status).toMatch(/accelerators:\s+accelerators: auto found no GPUs \(nvidia-smi not found\); workers are not pinned/);
    const fn = await client.registerFunction(() => process.env.CUDA_VISIBLE_DEVICES ?? 'none', { name: 'no-gpu' });
    expect(await client.getResult(await client.run(fn, auto.endpointId), { timeoutMs: 30_000 })).toBe('none');
    const id = await client.run(fn, auto.endpointId, [], {}, { resources: { gpus: 1 } });
    await expect(client.getResult(id, { timeoutMs: 30_000 })).rejects.toMatchObject({ code: 'RESOURCES_UNAVAILABLE' });
  });
});
