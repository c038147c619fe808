import { readSync, closeSync, existsSync } from 'node:fs';
import { mkdtemp, rm, symlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionOutcome } from '../../runtimes/task.errors.js';
import { resultFileName, workerOutcome } from './worker.outcome.js';

const TASK = '11111111-1111-4111-8111-111111111111';

describe('workerOutcome: the files a worker reports', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fx-outcome-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const read = (fd: number, size: number) => {
    const buf = Buffer.alloc(size);
    readSync(fd, buf, 0, size, 0);
    closeSync(fd);
    return buf.toString();
  };
  const refused = (o: ExecutionOutcome) => (o.status === 'failed' ? o.error.message : 'not refused');

  it('opens the result file and the named outputs, then unlinks them (they outlive the worker directory)', async () => {
    await writeFile(join(dir, resultFileName(TASK)), 'result');
    await writeFile(join(dir, `fx-output-${TASK}-0`), 'out');
    const outcome = workerOutcome(
      {
        ok: true,
        file: resultFileName(TASK),
        encoding: 'bytes',
        size: 6,
        namedOutputs: [{ name: 'o/a', file: `fx-output-${TASK}-0`, encoding: 'json', size: 3 }],
      },
      TASK,
      { workDir: dir, owner: process.getuid!() },
    );
    expect(outcome.status).toBe('success');
    if (outcome.status !== 'success') return;
    expect(existsSync(join(dir, resultFileName(TASK)))).toBe(false);
    expect(read(outcome.resultFile!.fd, 6)).toBe('result');
    expect(outcome.namedOutputs).toHaveLength(1);
    expect(outcome.namedOutputs![0]).toMatchObject({ name: 'o/a', encoding: 'json', size: 3 });
    expect(read(outcome.namedOutputs![0]!.fd, 3)).toBe('out');
  });

  it("refuses a link to another file (the endpoint's token), another task's name, a directory, a short file and another user's file", async () => {
    const token = join(dir, 'token');
    await writeFile(token, 'secret');
    const work = join(dir, 'work');
    await mkdir(work);
    await symlink(token, join(work, resultFileName(TASK)));
    const files = { workDir: work, owner: process.getuid!() };
    expect(refused(workerOutcome({ ok: true, file: resultFileName(TASK), encoding: 'bytes', size: 6 }, TASK, files))).toMatch(/refused: .*ELOOP|symbolic/i);
    expect(refused(workerOutcome({ ok: true, file: '../token', encoding: 'bytes', size: 6 }, TASK, files))).toMatch(/not one of the task's own/);
    const other = '22222222-2222-4222-8222-222222222222';
    await writeFile(join(work, resultFileName(other)), 'theirs');
    expect(refused(workerOutcome({ ok: true, file: resultFileName(other), encoding: 'bytes', size: 6 }, TASK, files))).toMatch(/not one of the task's own/);
    await rm(join(work, resultFileName(TASK)));
    await mkdir(join(work, resultFileName(TASK)));
    expect(refused(workerOutcome({ ok: true, file: resultFileName(TASK), encoding: 'bytes', size: 0 }, TASK, files))).toMatch(/not a regular file/);
    await rm(join(work, resultFileName(TASK)), { recursive: true });
    await writeFile(join(work, resultFileName(TASK)), 'abc');
    expect(refused(workerOutcome({ ok: true, file: resultFileName(TASK), encoding: 'bytes', size: 10 }, TASK, files))).toMatch(/holds 3 bytes, not the 10/);
    await writeFile(join(work, resultFileName(TASK)), 'abc');
    expect(refused(workerOutcome({ ok: true, file: resultFileName(TASK), encoding: 'bytes', size: 3 }, TASK, { ...files, owner: 65534 }))).toMatch(
      /belongs to uid/,
    );
    await writeFile(join(work, `fx-output-${TASK}-0`), 'x');
    expect(
      refused(
        workerOutcome({ ok: true, json: '1', namedOutputs: [{ name: '../escape', file: `fx-output-${TASK}-0`, encoding: 'json', size: 1 }] }, TASK, files),
      ),
    ).toMatch(/output name "..\/escape" is not valid/);
  });
});
