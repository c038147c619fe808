import { spawn } from 'node:child_process';
import { eventually } from '@fx/testing';
import { linkStdio, openLink } from './worker.link.js';
import type { ParentToWorkerMessage, WorkerToParentMessage } from './worker.messages.js';

// A child that prints every message its channel delivers, one line per delivery.
const ECHO_IPC = `process.on('message', (m) => process.stdout.write(JSON.stringify(m) + '\\n')); process.on('disconnect', () => process.exit(0));`;
const ECHO_PIPE = `
const { createInterface } = require('node:readline');
const fs = require('node:fs');
const out = fs.createWriteStream(null, { fd: 3 });
createInterface({ input: fs.createReadStream(null, { fd: 3 }) }).on('line', (l) => out.write(JSON.stringify({ type: 'started', taskId: l }) + '\\n'));`;

const run = (taskId: string): ParentToWorkerMessage => ({
  type: 'run',
  taskId,
  invocation: { source: '', contentHash: '', args: [], kwargs: {}, maxResultBytes: 1 },
});

describe('WorkerLink', () => {
  it('ipc: what is sent in one turn arrives as one batch, in order; a later turn as its own message', async () => {
    const child = spawn(process.execPath, ['-e', ECHO_IPC], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], serialization: 'json' });
    const link = openLink('ipc', child, 1 << 20);
    const got: unknown[] = [];
    let printed = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      printed += chunk;
      const lines = printed.split('\n');
      printed = lines.pop() ?? '';
      for (const line of lines) got.push(JSON.parse(line));
    });
    const errors: Array<Error | null> = [];
    for (const t of ['a', 'b', 'c']) link.send(run(t), (e) => errors.push(e));
    await eventually(() => got.length === 1, 10_000, 'the batch delivered');
    link.send({ type: 'drop', taskId: 'd' });
    await eventually(() => got.length === 2, 10_000, 'the drop delivered');
    expect(got).toEqual([
      { type: 'batch', messages: [run('a'), run('b'), run('c')] },
      { type: 'drop', taskId: 'd' },
    ]);
    expect(errors).toEqual([null, null, null]);
    link.send({ type: 'drop', taskId: 'e' });
    link.disconnect(); // what waited for the turn's end is written before the channel closes
    await eventually(() => got.length === 3, 10_000, 'the last drop delivered');
    expect(got.at(-1)).toEqual({ type: 'drop', taskId: 'e' });
  }, 30_000);

  it('pipe: one turn goes out as lines in order, each delivered as its own message', async () => {
    const child = spawn(process.execPath, ['-e', ECHO_PIPE], { stdio: linkStdio('pipe') });
    const link = openLink('pipe', child, 1 << 20);
    const got: unknown[] = [];
    link.onMessage((m: WorkerToParentMessage) => got.push(JSON.parse((m as { taskId: string }).taskId)));
    for (const t of ['a', 'b', 'c']) link.send(run(t));
    await eventually(() => got.length === 3, 10_000, 'three lines delivered');
    expect(got).toEqual([run('a'), run('b'), run('c')]);
    link.disconnect();
    child.kill();
  }, 30_000);
});
