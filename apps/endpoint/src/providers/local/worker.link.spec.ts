import { spawn } from 'node:child_process';
import { eventually } from '@fx/testing';
import { linkStdio, openLink } from './worker.link.js';
import type { ParentToWorkerMessage, WorkerToParentMessage } from './worker.messages.js';

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
  it('pipe: one turn goes out as lines in order, each delivered as its own message', async () => {
    const child = spawn(process.execPath, ['-e', ECHO_PIPE], { stdio: linkStdio() });
    const link = openLink(child, 1 << 20);
    const got: unknown[] = [];
    link.onMessage((m: WorkerToParentMessage) => got.push(JSON.parse((m as { taskId: string }).taskId)));
    for (const t of ['a', 'b', 'c']) link.send(run(t));
    await eventually(() => got.length === 3, 10_000, 'three lines delivered');
    expect(got).toEqual([run('a'), run('b'), run('c')]);
    link.disconnect();
    child.kill();
  }, 30_000);
});
