import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TaskResult } from '@fx/protocol';
import { ResultSpool } from './result.spool.js';

const result = (value: unknown = 1): TaskResult => ({
  taskId: randomUUID(),
  attempt: 0,
  status: 'success',
  result: value,
  timings: { startedAt: 1, finishedAt: 2 },
});

describe('ResultSpool', () => {
  let dir: string;
  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'fx-spool-spec-')), 'spool');
  });
  afterEach(async () => {
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  it('keeps results on disk until every result of a batch is acknowledged', async () => {
    const spool = new ResultSpool({ dir });
    await spool.load();
    const [a, b, c] = [result('a'), result('b'), result('c')];
    await spool.write([a, b]);
    await spool.write([c]);
    expect(spool.size).toBe(3);
    expect((await readdir(dir)).filter((n) => n.endsWith('.json'))).toHaveLength(2);
    await spool.ack([a.taskId, c.taskId]);
    expect(spool.pending()).toEqual([b]);
    expect(await readdir(dir)).toHaveLength(1);
    await spool.ack([b.taskId, randomUUID()]);
    expect(spool.size).toBe(0);
    expect(await readdir(dir)).toEqual([]);
  });

  it('writes small batches and large ones alike, blocking or not, each whole, before write resolves', async () => {
    const spool = new ResultSpool({ dir });
    await spool.load();
    // one result is a few hundred bytes (written with blocking calls); a frame of big ones goes through the thread pool
    const small = result('small');
    const large = [result('x'.repeat(100 * 1024)), result('y')];
    await spool.write([small], { blocking: true });
    expect(await readdir(dir)).toHaveLength(1);
    await spool.write(large, { blocking: true });
    expect((await readdir(dir)).filter((n) => n.endsWith('.json'))).toHaveLength(2);
    expect((await readdir(dir)).some((n) => n.endsWith('.tmp'))).toBe(false);
    const restarted = new ResultSpool({ dir });
    expect(await restarted.load()).toBe(3);
    expect(restarted.pending()).toEqual([small, ...large]);
    const other = result('async');
    await spool.write([other]);
    expect((await readdir(dir)).filter((n) => n.endsWith('.json'))).toHaveLength(3);
  });

  it('reloads what a crashed process left, in order, minus acknowledged batches', async () => {
    const crashed = new ResultSpool({ dir });
    await crashed.load();
    const [a, b, c] = [result('a'), result('b'), result('c')];
    await crashed.write([a]);
    await crashed.write([b, c]);
    await crashed.ack([a.taskId]);
    // The process dies here: no cleanup, a half-written batch left behind.
    await writeFile(join(dir, '99999999999999-1-00000000.json.tmp'), '[{"taskId":');

    const restarted = new ResultSpool({ dir });
    expect(await restarted.load()).toBe(2);
    expect(restarted.pending()).toEqual([b, c]);
    expect((await readdir(dir)).some((n) => n.endsWith('.tmp'))).toBe(false);
    await restarted.ack([b.taskId, c.taskId]);
    expect(await readdir(dir)).toEqual([]);
  });

  it('keeps what each attempt used (usage) across a restart', async () => {
    const crashed = new ResultSpool({ dir });
    await crashed.load();
    const measured = { ...result('u'), usage: { wallMs: 1500, cores: 2, gpus: 1, cpuMs: 1200, maxRssBytes: 1 << 20, blockId: 'b1-abc' } };
    const shell = { ...result('s'), usage: { wallMs: 10, cores: 1, gpus: 0, cpuMs: null, maxRssBytes: null } };
    await crashed.write([measured, shell]);
    const restarted = new ResultSpool({ dir });
    await restarted.load();
    expect(restarted.pending()).toEqual([measured, shell]);
  });

  it('sets aside a corrupt file instead of failing the start', async () => {
    const spool = new ResultSpool({ dir });
    await spool.load();
    await writeFile(join(dir, '00000000000001-1-00000000.json'), 'not json');
    const logged: string[] = [];
    const reloaded = new ResultSpool({ dir, log: (m) => logged.push(m) });
    expect(await reloaded.load()).toBe(0);
    expect(await readdir(dir)).toEqual(['00000000000001-1-00000000.json.corrupt']);
    expect(logged[0]).toMatch(/unreadable/);
  });

  it('lets a newer result for the same task replace the older one', async () => {
    const spool = new ResultSpool({ dir });
    await spool.load();
    const first = result('first');
    await spool.write([first]);
    await spool.write([{ ...first, attempt: 1, result: 'second' }]);
    expect(spool.pending()).toEqual([{ ...first, attempt: 1, result: 'second' }]);
    expect(await readdir(dir)).toHaveLength(1);
  });

  it('keeps results in memory and reports degraded spooling when the disk refuses a write, leaving no .tmp behind', async () => {
    const spool = new ResultSpool({ dir });
    await spool.load();
    const a = result('a');
    await spool.write([a]);
    // The spool directory goes away (a full or failed disk looks the same from here): writes fail.
    await rm(dir, { recursive: true, force: true });
    const [b, c] = [result('b'), result('c')];
    await expect(spool.write([b, c])).rejects.toThrow(/kept in memory/);
    expect(spool.degraded).toMatch(/kept in memory only/);
    expect(spool.size).toBe(3);
    expect(spool.pending().map((r) => r.result)).toEqual(['a', 'b', 'c']);
    await spool.ack([b.taskId, c.taskId]);
    expect(spool.pending()).toEqual([a]);
    // The disk is back: the next write succeeds, and spooling is no longer degraded.
    await mkdir(dir, { recursive: true });
    const d = result('d');
    await spool.write([d]);
    expect(spool.degraded).toBeUndefined();
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});
