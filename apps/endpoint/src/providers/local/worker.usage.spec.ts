import { functionContentHash } from '@fx/protocol/node';
import type { ExecutionOutcome } from '../../runtimes/task.errors.js';
import type { PythonInvocation } from '../../runtimes/python/python.runtime.js';
import { runShell } from '../../runtimes/shell/shell.runtime.js';
import { UsageMeter, checkedUsage } from '../../runtimes/usage.meter.js';
import { ensureEndpointBuilt } from '../../testing/worker-build.js';
import { PythonWorkers } from './python.workers.js';
import { WorkerPool } from './worker.pool.js';

/**
 * What workers measure of each call (usage.meter.ts in js workers, fx_worker_usage.py in python ones,
 * wall time only for shell tasks), through real worker processes. CPU is burned until the process's own
 * CPU clock has advanced by a known amount, so the figures asserted follow from the work, not from timing.
 */
const MB = 1024 * 1024;
const noAbort = () => new AbortController().signal;
let seq = 0;
const id = () => `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`;
const usageOf = (o: ExecutionOutcome) => {
  expect(o.status).toBe('success');
  return o.usage!;
};

describe('UsageMeter (in this process)', () => {
  it('measures CPU burned and the peak of memory touched during the call', () => {
    const meter = new UsageMeter();
    try {
      expect(meter.perCallPeak).toBe(true); // Linux: the peak is reset per call
      const end = meter.start();
      const until = process.cpuUsage().user + 100_000;
      while (process.cpuUsage().user < until);
      const block = Buffer.alloc(64 * MB, 1);
      const used = end();
      expect(block[block.length - 1]).toBe(1);
      expect(used.cpuMs).toBeGreaterThanOrEqual(100);
      expect(used.wallMs).toBeGreaterThanOrEqual(100);
      expect(used.maxRssBytes).toBeGreaterThanOrEqual(64 * MB);
      expect(checkedUsage(used)).toEqual(used);
    } finally {
      meter.close();
    }
  });

  it("takes only well-formed figures from a worker's report", () => {
    expect(checkedUsage({ wallMs: 5, cpuMs: null, maxRssBytes: null })).toEqual({ wallMs: 5, cpuMs: null, maxRssBytes: null });
    for (const bad of [
      null,
      'x',
      { wallMs: -1, cpuMs: 0, maxRssBytes: 0 },
      { wallMs: 1.5, cpuMs: 0, maxRssBytes: 0 },
      { wallMs: 1, cpuMs: 'a', maxRssBytes: 0 },
      { wallMs: 1 },
    ]) {
      expect(checkedUsage(bad)).toBeUndefined();
    }
  });
});

describe('usage measured by js workers', () => {
  const { workerScript } = ensureEndpointBuilt();
  let pool: WorkerPool;
  beforeAll(async () => {
    pool = new WorkerPool({ size: 1, workerScript });
    await pool.start();
  });
  afterAll(() => pool.stop());

  const js = (source: string) => ({ source, contentHash: functionContentHash('js', source), args: [], kwargs: {}, maxResultBytes: MB });

  it('reports the CPU time a task burned, within its wall time', async () => {
    const burn = '() => { const until = process.cpuUsage().user + 300000; while (process.cpuUsage().user < until); return 1; }';
    const used = usageOf(await pool.run(id(), js(burn), noAbort()));
    expect(used.cpuMs).toBeGreaterThanOrEqual(300);
    expect(used.wallMs).toBeGreaterThanOrEqual(300);
    const idle = usageOf(await pool.run(id(), js('() => 1'), noAbort()));
    expect(idle.cpuMs).toBeLessThan(used.cpuMs!);
    // 300 ms of CPU can take seconds of wall time on a busy 2-core machine
  }, 30_000);

  it('reports the peak resident memory of the worker while the task ran', async () => {
    const used = usageOf(await pool.run(id(), js('() => Buffer.alloc(128 * 1024 * 1024, 1).length'), noAbort()));
    expect(used.maxRssBytes).toBeGreaterThanOrEqual(128 * MB);
  });

  it("reports a failed task's usage too", async () => {
    const outcome = await pool.run(id(), js('() => { throw new Error("no") }'), noAbort());
    expect(outcome.status).toBe('failed');
    expect(outcome.usage).toEqual({ wallMs: expect.any(Number), cpuMs: expect.any(Number), maxRssBytes: expect.any(Number) });
  });
});

describe('usage measured by python workers', () => {
  let workers: PythonWorkers;
  beforeAll(() => {
    workers = new PythonWorkers({ size: 1 });
  });
  afterAll(() => workers.stop());

  const py = (source: string): PythonInvocation => ({
    source,
    entrypoint: 'main',
    contentHash: functionContentHash('python', source, { entrypoint: 'main' }),
    args: [],
    kwargs: {},
    maxResultBytes: MB,
  });

  it('reports the CPU time a task burned, its own and that of the processes it waited for', async () => {
    const own = usageOf(
      await workers.run(id(), py('import time\ndef main():\n    t = time.process_time()\n    while time.process_time() - t < 0.3: pass\n'), noAbort()),
    );
    expect(own.cpuMs).toBeGreaterThanOrEqual(300);
    expect(own.wallMs).toBeGreaterThanOrEqual(300);
    const child = `import subprocess, sys
def main():
    subprocess.run([sys.executable, "-c", "import time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.3: pass"], check=True)
`;
    expect(usageOf(await workers.run(id(), py(child), noAbort())).cpuMs).toBeGreaterThanOrEqual(300);
  });

  it("reports each call's own peak memory, not the worker's lifetime peak", async () => {
    const big = usageOf(await workers.run(id(), py('def main():\n    data = b"x" * (192 * 1024 * 1024)\n    return len(data)\n'), noAbort()));
    expect(big.maxRssBytes).toBeGreaterThanOrEqual(192 * MB);
    // the same worker, after the big one freed its memory: its peak was reset at the start of this call
    const small = usageOf(await workers.run(id(), py('def main():\n    return 1\n'), noAbort()));
    expect(small.maxRssBytes).toBeLessThan(big.maxRssBytes! - 128 * MB);
  });
});

describe('usage of shell tasks', () => {
  it('is wall time only: no CPU or memory figure rather than a made-up one', async () => {
    const outcome = await runShell({ template: 'sleep 0.3', kwargs: {} }, noAbort());
    const used = usageOf(outcome);
    expect(used.wallMs).toBeGreaterThanOrEqual(300);
    expect([used.cpuMs, used.maxRssBytes]).toEqual([null, null]);
  });
});
