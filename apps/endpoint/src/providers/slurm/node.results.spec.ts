import { openSync, readSync, closeSync, existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionOutcome } from '../../runtimes/task.errors.js';
import { shareResultFile, takeResultFile } from './node.results.js';

const TASK = '33333333-3333-4333-8333-333333333333';

describe('result files across a Slurm block', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fx-node-results-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const fdOf = async (name: string, content: string) => {
    await writeFile(join(dir, name), content);
    return openSync(join(dir, name), 'r');
  };
  const text = (fd: number, size: number) => {
    const buf = Buffer.alloc(size);
    readSync(fd, buf, 0, size, 0);
    closeSync(fd);
    return buf.toString();
  };

  it('the node copies a result file and named outputs into the shared directory; the agent takes them from there only', async () => {
    const incoming = await mkdtemp(join(dir, 'incoming-'));
    const outcome: ExecutionOutcome = {
      status: 'success',
      result: undefined,
      resultFile: { fd: await fdOf('r', 'result!'), size: 7, encoding: 'bytes' },
      namedOutputs: [{ name: 'out/x', fd: await fdOf('o', '[1]'), size: 3, encoding: 'json' }],
    };
    const sent = JSON.parse(JSON.stringify(await shareResultFile(outcome, TASK, incoming))) as ExecutionOutcome;
    expect(await readdir(incoming)).toHaveLength(2);
    const taken = takeResultFile(sent, incoming, TASK);
    expect(taken.status).toBe('success');
    if (taken.status !== 'success') return;
    expect(text(taken.resultFile!.fd, 7)).toBe('result!');
    expect(taken.namedOutputs![0]).toMatchObject({ name: 'out/x', encoding: 'json', size: 3 });
    expect(text(taken.namedOutputs![0]!.fd, 3)).toBe('[1]');
    expect(await readdir(incoming)).toEqual([]);
  });

  it('refuses a path outside the incoming directory', async () => {
    const incoming = await mkdtemp(join(dir, 'incoming-'));
    await writeFile(join(dir, 'token'), 'secret');
    const forged = { status: 'success', result: null, resultPath: { path: join(incoming, '..', 'token'), size: 6, encoding: 'bytes' } };
    const taken = takeResultFile(forged as unknown as ExecutionOutcome, incoming, TASK);
    expect(taken).toMatchObject({ status: 'failed', error: { code: 'OBJECT_UNAVAILABLE', message: expect.stringMatching(/is not a file of/) } });
    expect(existsSync(join(dir, 'token'))).toBe(true);
  });

  it("refuses another task's file, and leaves it for that task", async () => {
    const incoming = await mkdtemp(join(dir, 'incoming-'));
    const outcome: ExecutionOutcome = { status: 'success', result: undefined, resultFile: { fd: await fdOf('r2', 'theirs'), size: 6, encoding: 'bytes' } };
    const sent = JSON.parse(JSON.stringify(await shareResultFile(outcome, TASK, incoming))) as ExecutionOutcome;
    const other = '00000000-0000-4000-8000-0000000000ff';
    expect(takeResultFile(sent, incoming, other)).toMatchObject({
      status: 'failed',
      error: { message: expect.stringMatching(`is not a file of task ${other}`) },
    });
    expect(await readdir(incoming)).toHaveLength(1);
    expect(takeResultFile(sent, incoming, TASK).status).toBe('success');
  });
});
