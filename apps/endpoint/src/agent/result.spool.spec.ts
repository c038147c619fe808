import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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
  const files = async () => (await readdir(dir)).sort();
  /** What a restart would resend: a second spool reads the directory without changing it. */
  const onRestart = async () => {
    const restarted = new ResultSpool({ dir });
    await restarted.load();
    return restarted.pending();
  };

  it('keeps results on disk until each is acknowledged, then removes its file', async () => {
    const spool = new ResultSpool({ dir, resetBytes: 0 });
    await spool.load();
    const [a, b, c] = [result('a'), result('b'), result('c')];
    await spool.write([a, b]);
    await spool.write([c]);
    expect(spool.size).toBe(3);
    expect(await ResultSpool.count(dir)).toBe(3);
    await spool.ack([a.taskId, c.taskId]);
    expect(spool.pending()).toEqual([b]);
    expect(await ResultSpool.count(dir)).toBe(1);
    await spool.ack([b.taskId, randomUUID()]);
    expect(spool.size).toBe(0);
    expect(await files()).toEqual([]);
  });

  it('appends every batch and acknowledgement to one file while the spool stays small', async () => {
    const spool = new ResultSpool({ dir, resetBytes: 4096 });
    await spool.load();
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const r = result('x'.repeat(200));
      await spool.write([r], { blocking: i % 2 === 0 });
      seen.add((await files()).join());
      await spool.ack([r.taskId]);
    }
    // about 300 bytes a round: a file holds about 14 of them before the emptied spool starts another
    expect(seen.size).toBeGreaterThanOrEqual(2);
    expect(seen.size).toBeLessThanOrEqual(4);
    expect((await files()).length).toBeLessThanOrEqual(1);
    expect(await onRestart()).toEqual([]);
  });

  it('writes small batches and large ones alike, blocking or not, each whole, before write resolves', async () => {
    const spool = new ResultSpool({ dir });
    await spool.load();
    // one result is a few hundred bytes (written with blocking calls); a frame of big ones goes through the thread pool
    const small = result('small');
    const large = [result('x'.repeat(100 * 1024)), result('y')];
    await spool.write([small], { blocking: true });
    await spool.write(large, { blocking: true });
    expect(await onRestart()).toEqual([small, ...large]);
    const other = result('async');
    const more = result('blocking, behind the queued one');
    await Promise.all([spool.write([other]), spool.write([more], { blocking: true })]);
    expect(await onRestart()).toEqual([small, ...large, other, more]);
  });

  it('reloads what a crashed process left, in order, minus acknowledged results and a torn last line', async () => {
    const crashed = new ResultSpool({ dir });
    await crashed.load();
    const [a, b, c] = [result('a'), result('b'), result('c')];
    await crashed.write([a]);
    await crashed.write([b, c]);
    await crashed.ack([a.taskId]);
    // The process dies here, in the middle of its next append; an older agent's unfinished batch file is there too.
    const [segment] = await files();
    await writeFile(join(dir, segment!), `${await readFile(join(dir, segment!), 'utf8')}{"r":[{"taskId":`);
    await writeFile(join(dir, '99999999999999-1-00000000.json.tmp'), '[{"taskId":');

    const logged: string[] = [];
    const restarted = new ResultSpool({ dir, resetBytes: 0, log: (m) => logged.push(m) });
    expect(await restarted.load()).toBe(2);
    expect(restarted.pending()).toEqual([b, c]);
    expect(logged).toEqual([]);
    expect((await files()).some((n) => n.endsWith('.tmp'))).toBe(false);
    await restarted.ack([b.taskId, c.taskId]);
    expect(await files()).toEqual([]);
  });

  it('reads the batch files an older agent left, and removes each once acknowledged', async () => {
    await mkdir(dir, { recursive: true });
    const [a, b] = [result('a'), result('b')];
    await writeFile(join(dir, '00000000000001-1-00000000.json'), JSON.stringify([a]));
    await writeFile(join(dir, '00000000000002-1-00000001.json'), JSON.stringify([b]));
    const spool = new ResultSpool({ dir, resetBytes: 0 });
    expect(await spool.load()).toBe(2);
    expect(spool.pending()).toEqual([a, b]);
    await spool.ack([a.taskId]);
    expect((await files()).filter((n) => n.endsWith('.json'))).toEqual(['00000000000002-1-00000001.json']);
    expect(await onRestart()).toEqual([b]);
    await spool.ack([b.taskId]);
    expect(await files()).toEqual([]);
  });

  it('removes files oldest first: an acknowledgement is kept while what it settles could come back', async () => {
    // one file per append
    const spool = new ResultSpool({ dir, segmentBytes: 1, resetBytes: 0 });
    await spool.load();
    const [a, b] = [result('a'), result('b')];
    await spool.write([a]);
    await spool.write([b]);
    await spool.ack([b.taskId]);
    // b's file must stay (a's is older and still needed); the acknowledgement went to a third
    expect(await files()).toHaveLength(3);
    expect(await onRestart()).toEqual([a]);
    await spool.ack([a.taskId]);
    expect(await files()).toEqual([]);
  });

  it('keeps what each attempt used (usage) across a restart', async () => {
    const crashed = new ResultSpool({ dir });
    await crashed.load();
    const measured = { ...result('u'), usage: { wallMs: 1500, cores: 2, gpus: 1, cpuMs: 1200, maxRssBytes: 1 << 20, blockId: 'b1-abc' } };
    const shell = { ...result('s'), usage: { wallMs: 10, cores: 1, gpus: 0, cpuMs: null, maxRssBytes: null } };
    await crashed.write([measured, shell]);
    expect(await onRestart()).toEqual([measured, shell]);
  });

  it('sets aside a corrupt file instead of failing the start, and reads the rest of a damaged one', async () => {
    await mkdir(dir, { recursive: true });
    const kept = result('kept');
    await writeFile(join(dir, '00000000000001-1-00000000.json'), 'not json');
    await writeFile(join(dir, '00000000000002-1-00000001.log'), `not json\n${JSON.stringify({ r: [kept] })}\n`);
    const before = await files();
    expect(await ResultSpool.count(dir)).toBe(1);
    expect(await files()).toEqual(before); // counting changes nothing
    const logged: string[] = [];
    const reloaded = new ResultSpool({ dir, log: (m) => logged.push(m) });
    expect(await reloaded.load()).toBe(1);
    expect(reloaded.pending()).toEqual([kept]);
    expect(await files()).toEqual(['00000000000001-1-00000000.json.corrupt', '00000000000002-1-00000001.log']);
    expect(logged).toEqual([expect.stringMatching(/unreadable; kept as .*\.corrupt/), expect.stringMatching(/1 unreadable records/)]);
  });

  it('lets a newer result for the same task replace the older one', async () => {
    const spool = new ResultSpool({ dir });
    await spool.load();
    const first = result('first');
    await spool.write([first]);
    await spool.write([{ ...first, attempt: 1, result: 'second' }]);
    expect(spool.pending()).toEqual([{ ...first, attempt: 1, result: 'second' }]);
    expect(await onRestart()).toEqual([{ ...first, attempt: 1, result: 'second' }]);
  });

  it('keeps results in memory and reports degraded spooling when the disk refuses a write', async () => {
    // a file per append, so that the next write must create one
    const spool = new ResultSpool({ dir, segmentBytes: 1 });
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
    expect(await onRestart()).toEqual([d]);
  });
});
