import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { Client } from '@fx/sdk';
import { EndpointProcess, ServerProcess, eventually } from '@fx/testing';
import { objectsClient } from '../../apps/server/src/testing/objects-client.js';

/**
 * FX on a real Slurm cluster: the built server, a real `fx-endpoint` with `provider: slurm` submitting
 * pilot jobs with the real sbatch / squeue / scancel, and the SDK. Needs a running Slurm (CI starts a
 * single-node one with scripts/slurm-up.sh); without one every test here fails and says so.
 */
jest.setTimeout(300_000);

const SETUP_HINT =
  'Slurm is not running on this machine: run `sudo bash scripts/slurm-up.sh` (installs slurm-wlm + munge and starts a single-node cluster), then run the tests again';

function slurmProblem(): string | undefined {
  const r = spawnSync('sinfo', ['--noheader', '--format=%t'], { encoding: 'utf8', timeout: 15_000 });
  if (r.error) return `${SETUP_HINT} (sinfo: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message})`;
  if (r.status !== 0) return `${SETUP_HINT} (sinfo: ${r.stderr.trim()})`;
  if (!/^(idle|mix|alloc)/m.test(r.stdout)) return `${SETUP_HINT} (no usable node; sinfo says: ${r.stdout.trim() || 'nothing'})`;
  return undefined;
}

interface BlockView {
  id: string;
  jobId?: string;
  state: string;
  busy: number;
  workers: number;
}
interface StatusView {
  state: string;
  blocks?: BlockView[];
  devices?: Array<{ device: string; worker: string }>;
}

/** Jobs Slurm still has alive (pending, running, completing) under this name. */
function liveJobs(name: string): string[] {
  const r = spawnSync('squeue', ['--noheader', `--name=${name}`, '--format=%i %T'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

describe('FX on Slurm', () => {
  const problem = slurmProblem();
  let server: ServerProcess;
  let endpoint: EndpointProcess;
  let client: Client;
  let jobName = '';
  const statusPath = () => join(endpoint.home.path, 'endpoints', 'hpc', 'status.json');
  const readStatus = async (): Promise<StatusView | undefined> => {
    try {
      return JSON.parse(await readFile(statusPath(), 'utf8')) as StatusView;
    } catch {
      return undefined;
    }
  };
  const runningBlocks = async () => ((await readStatus())?.blocks ?? []).filter((b) => b.state === 'running');
  const dumpLogs = () => `--- endpoint ---\n${endpoint?.log()}\n--- server ---\n${server?.log()}`;

  beforeAll(async () => {
    if (problem) return;
    server = await ServerProcess.start('embedded', { FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000', FX_SWEEP_INTERVAL_MS: '500' });
    endpoint = await EndpointProcess.configure(server, 'hpc');
    jobName = `fx-hpc-${endpoint.endpointId.slice(0, 8)}`;
    await endpoint.mergeConfig({
      provider: 'slurm',
      drainTimeoutSeconds: 5,
      accelerators: ['0', '1'],
      slurm: {
        walltime: '00:10:00',
        nodesPerBlock: 1,
        workersPerNode: 2,
        initBlocks: 0,
        minBlocks: 0,
        maxBlocks: 2,
        maxIdleSeconds: 3,
        listen: '127.0.0.1:0',
        address: '127.0.0.1',
        pollIntervalSeconds: 0.5,
        workerInit: 'export FX_TEST_INIT=1',
      },
    });
    endpoint.start();
    client = new Client({ url: server.url, token: server.adminToken });
    await eventually(async () => (await client.getEndpoint(endpoint.endpointId)).state === 'online', 30_000, 'endpoint online').catch((e) => {
      throw new Error(`${(e as Error).message}\n${dumpLogs()}`);
    });
  });

  afterAll(async () => {
    client?.close();
    await endpoint?.stop();
    await server?.stop();
    if (jobName) {
      const left = liveJobs(jobName).map((l) => l.split(' ')[0]!);
      if (left.length) spawnSync('scancel', left);
    }
  });

  const requireSlurm = () => {
    if (problem) throw new Error(problem);
  };

  it('runs 200 tasks, scaling 0 → 2 blocks and back to 0 after idle', async () => {
    requireSlurm();
    expect(await runningBlocks()).toHaveLength(0);
    expect(liveJobs(jobName)).toHaveLength(0);
    const work = await client.registerFunction(
      async (i: number) => {
        await new Promise((r) => setTimeout(r, 100));
        return { i, doubled: i * 2, host: process.env.SLURM_JOB_ID ?? 'not-in-slurm' };
      },
      { name: 'slurm-work' },
    );
    const t0 = Date.now();
    let maxRunning = 0;
    let twoAt: number | undefined;
    const jobIds = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const blocks = await runningBlocks();
        for (const b of blocks) if (b.jobId) jobIds.add(b.jobId);
        maxRunning = Math.max(maxRunning, blocks.length);
        if (blocks.length >= 2 && twoAt === undefined) twoAt = Date.now() - t0;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const ids = await client.runBatch(
      endpoint.endpointId,
      Array.from({ length: 200 }, (_, i) => ({ functionId: work, args: [i] })),
    );
    const results = (await client.getResults(ids, { timeoutMs: 180_000 }).catch((e) => {
      throw new Error(`${(e as Error).message}\n${dumpLogs()}`);
    })) as Array<{ i: number; doubled: number; host: string }>;
    const allDone = Date.now() - t0;
    expect(results.map((r) => r.doubled)).toEqual(Array.from({ length: 200 }, (_, i) => i * 2));
    // Every task ran inside a Slurm job, never on the agent's machine outside one.
    expect(results.every((r) => /^\d+$/.test(r.host))).toBe(true);
    expect(new Set(results.map((r) => r.host)).size).toBe(2);
    const idleFrom = Date.now();
    await eventually(async () => (await runningBlocks()).length === 0 && liveJobs(jobName).length === 0, 60_000, 'scale in to 0 blocks');
    const scaledIn = Date.now() - idleFrom;
    watching = false;
    await watcher;
    expect(maxRunning).toBe(2);
    expect(jobIds.size).toBe(2);
    console.log(
      `slurm scaling: 0 → 2 running blocks in ${twoAt} ms; 200 tasks done in ${allDone} ms; back to 0 blocks ${scaledIn} ms after the last result (maxIdleSeconds 3)`,
    );
  });

  it('re-runs the tasks of a block cancelled from outside with scancel; every task ends with one result', async () => {
    requireSlurm();
    const slow = await client.registerShellFunction('sleep 8; echo task {n} in job "$SLURM_JOB_ID"', { name: 'slow' });
    const ids = await client.runBatch(
      endpoint.endpointId,
      Array.from({ length: 4 }, (_, n) => ({ functionId: slow, kwargs: { n } })),
    );
    // Wait until both blocks run tasks, then kill one of them behind FX's back.
    const victim = await eventually(
      async () => {
        const blocks = await runningBlocks();
        return blocks.length === 2 && blocks.every((b) => b.busy > 0) ? blocks[0] : undefined;
      },
      60_000,
      'two busy blocks',
    );
    const cancelled = spawnSync('scancel', [victim!.jobId!], { encoding: 'utf8' });
    expect(cancelled.status).toBe(0);
    const outcomes = await client.getResults(ids, { timeoutMs: 120_000 }).catch((e) => {
      throw new Error(`${(e as Error).message}\n${dumpLogs()}`);
    });
    const stdout = (outcomes as Array<{ stdout: string; returncode: number }>).map((o) => o.stdout.trim());
    for (let n = 0; n < 4; n++) expect(stdout[n]).toMatch(new RegExp(`^task ${n} in job \\d+$`));
    // The re-run tasks ran in another job than the cancelled one, and their history counts the loss.
    const tasks = await Promise.all(ids.map((id) => client.getTask(id)));
    const rerun = tasks.filter((t) => t.attempt >= 1);
    expect(rerun.length).toBeGreaterThanOrEqual(1);
    expect(tasks.every((t) => t.status === 'success')).toBe(true);
    for (const t of rerun) expect((t.result as { stdout: string }).stdout).not.toContain(`job ${victim!.jobId}\n`);
  });

  it('runs an MPI function with 2 ranks under srun inside a block', async () => {
    requireSlurm();
    const mpi = await client.registerMpiFunction('echo "rank $SLURM_PROCID of $SLURM_NTASKS says" {msg}', { name: 'ranks' });
    const id = await client.run(mpi, endpoint.endpointId, [], { msg: 'hi' }, { resources: { nodes: 1, ranksPerNode: 2 } });
    const out = (await client.getResult(id, { timeoutMs: 120_000 }).catch((e) => {
      throw new Error(`${(e as Error).message}\n${dumpLogs()}`);
    })) as { cmd: string; stdout: string; stderr: string; returncode: number };
    expect(out.returncode).toBe(0);
    expect(out.cmd).toMatch(/^srun .*--ntasks=2/);
    expect(out.stdout.trim().split('\n').sort()).toEqual(['rank 0 of 2 says hi', 'rank 1 of 2 says hi']);
  });

  it('pins each block worker to its device and places gpus: 1 tasks there; refuses what no worker can hold', async () => {
    requireSlurm();
    const seen = await client.registerShellFunction('echo "$CUDA_VISIBLE_DEVICES $ROCR_VISIBLE_DEVICES $ZE_AFFINITY_MASK $FX_TEST_INIT"; sleep 0.5', {
      name: 'seen',
    });
    const ids = await client.runBatch(
      endpoint.endpointId,
      Array.from({ length: 6 }, () => ({ functionId: seen })),
      { resources: { gpus: 1, cores: 1, walltimeSeconds: 60 } },
    );
    const outs = (await client.getResults(ids, { timeoutMs: 120_000 })) as Array<{ stdout: string }>;
    const devices = outs.map((o) => o.stdout.trim());
    for (const d of devices) expect(['0 0 0 1', '1 1 1 1']).toContain(d);
    const status = await readStatus();
    expect((status?.devices ?? []).map((d) => d.device.split(':')[1]).sort()).toEqual(expect.arrayContaining(['0', '1']));
    const tooBig = await client.run(seen, endpoint.endpointId, [], {}, { resources: { cores: 64 } });
    await expect(client.getResult(tooBig, { timeoutMs: 30_000 })).rejects.toMatchObject({ code: 'RESOURCES_UNAVAILABLE' });
  });

  it("runs python functions in a block: each sees its block's job id, the block's environment and its own pinned device", async () => {
    requireSlurm();
    const where = await client.registerPythonFunction(
      'import os, platform, time\n\ndef main():\n    time.sleep(0.3)\n' +
        '    return {k: os.environ.get(k) for k in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "FX_TEST_INIT")} | {"pid": os.getpid(), "python": platform.python_version()}\n',
      { name: 'where-py', entrypoint: 'main' },
    );
    const ids = await client.runBatch(
      endpoint.endpointId,
      Array.from({ length: 6 }, () => ({ functionId: where })),
      { resources: { gpus: 1, cores: 1, walltimeSeconds: 60 } },
    );
    type Seen = { SLURM_JOB_ID: string | null; CUDA_VISIBLE_DEVICES: string; ROCR_VISIBLE_DEVICES: string; FX_TEST_INIT: string; pid: number; python: string };
    const seen = (await client.getResults(ids, { timeoutMs: 120_000 }).catch((e) => {
      throw new Error(`${(e as Error).message}\n${dumpLogs()}`);
    })) as Seen[];
    // a real job id: one the agent got back from sbatch for one of its blocks
    const submitted = [...endpoint.output.join('').matchAll(/submitted a block as job (\d+)/g)].map((m) => m[1]);
    for (const s of seen) {
      expect(s.SLURM_JOB_ID).toMatch(/^\d+$/);
      expect(submitted).toContain(s.SLURM_JOB_ID);
      expect(s.FX_TEST_INIT).toBe('1');
      expect(['0', '1']).toContain(s.CUDA_VISIBLE_DEVICES);
      expect(s.ROCR_VISIBLE_DEVICES).toBe(s.CUDA_VISIBLE_DEVICES);
    }
    // one python worker per pinned slot, each always with its own device
    const byPid = new Map<number, Set<string>>();
    for (const s of seen) byPid.set(s.pid, (byPid.get(s.pid) ?? new Set()).add(`${s.SLURM_JOB_ID}/${s.CUDA_VISIBLE_DEVICES}`));
    for (const devices of byPid.values()) expect(devices.size).toBe(1);
    // the endpoint reports the Python its block's worker found on the node
    const python = await eventually(async () => (await client.getEndpointStatus(endpoint.endpointId)).status?.python, 30_000, 'python reported');
    expect(python).toMatchObject({ available: true, version: seen[0]!.python });
  });

  it("gives block workers objects from the endpoint's cache and takes their Buffer results back through the shared filesystem", async () => {
    requireSlurm();
    const objects = objectsClient(server.url, server.adminToken);
    const input = randomBytes(300_000);
    const object = (await objects.put(input)).body as { id: string };
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(server.url + path, {
        method,
        headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return (await res.json()) as Record<string, any>;
    };
    const reverse = await client.registerFunction((b: Buffer) => Buffer.from(b).reverse(), { name: 'reverse' });
    const count = await client.registerShellFunction('wc -c < {data}', { name: 'count' });
    const ranks = await client.registerMpiFunction('wc -c < {data}', { name: 'count-ranks' });
    const ref = { $fx: 'object', id: object.id };
    const ids = [
      (await api('POST', '/v1/tasks', { functionId: reverse, endpointId: endpoint.endpointId, args: [ref] })).taskId as string,
      (await api('POST', '/v1/tasks', { functionId: count, endpointId: endpoint.endpointId, kwargs: { data: ref } })).taskId as string,
      (await api('POST', '/v1/tasks', { functionId: ranks, endpointId: endpoint.endpointId, kwargs: { data: ref }, resources: { nodes: 1, ranksPerNode: 2 } }))
        .taskId as string,
    ];
    const tasks = await Promise.all(
      ids.map((id) =>
        eventually(
          async () => {
            const t = await api('GET', `/v1/tasks/${id}`);
            return t.status === 'success' || t.status === 'failed' ? t : undefined;
          },
          120_000,
          `task ${id} final`,
        ).catch((e) => Promise.reject(new Error(`${(e as Error).message}\n${dumpLogs()}`))),
      ),
    );
    expect(tasks.map((t) => t.error ?? null)).toEqual([null, null, null]);
    expect(tasks[0]).toMatchObject({ status: 'success', resultRef: { encoding: 'bytes', size: input.length } });
    expect((await objects.content(tasks[0]!.resultRef.id)).bytes.equals(Buffer.from(input).reverse())).toBe(true);
    expect(tasks[1]).toMatchObject({ status: 'success', result: { stdout: `${input.length}\n`, returncode: 0 } });
    expect(tasks[2]).toMatchObject({ status: 'success', result: { returncode: 0 } });
    expect(tasks[2]!.result.stdout.trim().split('\n')).toEqual([String(input.length), String(input.length)]);
    // nothing is left behind in the hand-over directory
    expect(await readdir(join(endpoint.home.path, 'endpoints', 'hpc', 'objects', 'incoming'))).toEqual([]);
  });

  it("streams a block task's progress and printed lines to the server, before its result (live streams, docs/live.md)", async () => {
    requireSlurm();
    const fn = (
      await client.createFunction({
        name: 'block-steps',
        runtime: 'js',
        source: `async (n) => { for (let i = 1; i <= n; i++) { ctx.emit({ step: i }); console.log('step ' + i); await new Promise((r) => setTimeout(r, 5)); } return n; }`,
      })
    ).id;
    const handle = await client.submit(fn, endpoint.endpointId, [3]);
    const seen: number[] = [];
    const following = (async () => {
      for await (const event of handle.progress()) seen.push(event.seq);
    })();
    expect(await handle.result({ timeoutMs: 120_000 }).catch((e) => Promise.reject(new Error(`${(e as Error).message}\n${dumpLogs()}`)))).toBe(3);
    await following;
    expect(seen.at(-1)).toBe(3);
    const printed: string[] = [];
    for await (const chunk of handle.logs()) printed.push(chunk.text);
    expect(printed.join('')).toBe('step 1\nstep 2\nstep 3\n');
    // the agent's side (issue 17): where in which block it ran, among what it printed
    const said: string[] = [];
    for await (const chunk of handle.logs({ stream: 'agent' })) said.push(chunk.text);
    const placed = /INFO {2}started on worker (\S+)\/(\S+)\/w\d+ \(block (\S+), node (\S+)\)\n/.exec(said.join(''));
    expect(placed?.[1]).toBe(placed?.[3]);
    expect(placed?.[2]).toBe(placed?.[4]);
    expect(said.join('')).toMatch(/INFO {2}received, queued\n[^]*INFO {2}finished: success in \d+ ms on worker \S+\n$/);
  });

  it('stop cancels every block: no job of the endpoint is left in squeue', async () => {
    requireSlurm();
    const fn = await client.registerShellFunction('sleep 1; echo ok', { name: 'brief' });
    await client.getResult(await client.run(fn, endpoint.endpointId), { timeoutMs: 60_000 });
    expect((await runningBlocks()).length).toBeGreaterThanOrEqual(1);
    expect(liveJobs(jobName).length).toBeGreaterThanOrEqual(1);
    const code = await endpoint.kill('SIGTERM');
    expect(code).toBe(0);
    expect(liveJobs(jobName)).toEqual([]);
    // One log vocabulary (issue 11 item 4): block workers and the agent write JSON records naming the block.
    const blocksDir = join(endpoint.home.path, 'endpoints', 'hpc', 'blocks');
    const blockLogs = await Promise.all((await readdir(blocksDir)).filter((f) => f.endsWith('.log')).map((f) => readFile(join(blocksDir, f), 'utf8')));
    const jsonLines = (text: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg: string; blockId?: string; endpointId?: string });
    expect(blockLogs.flatMap(jsonLines).some((r) => r.msg.startsWith('connected to the agent') && /^b\d+-/.test(r.blockId ?? ''))).toBe(true);
    expect(blockLogs.join('')).not.toMatch(/ExperimentalWarning/);
    const agentRecords = jsonLines(endpoint.output.join(''));
    expect(
      agentRecords.some((r) => r.msg.startsWith('submitted a block as job') && /^b\d+-/.test(r.blockId ?? '') && r.endpointId === endpoint.endpointId),
    ).toBe(true);
  });
});
