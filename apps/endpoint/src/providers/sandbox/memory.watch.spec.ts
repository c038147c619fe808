import { spawn, type ChildProcess } from 'node:child_process';
import { eventually } from '@fx/testing';
import { MEMORY_POLL_MS, nextPollDelay, processTree } from './memory.watch.js';

// A node process with `threads` worker threads; the last one starts `sleep` and prints its pid.
const SPAWNER = (threads: number) => `
const { Worker } = require('node:worker_threads');
for (let i = 0; i < ${threads}; i++) {
  const last = i === ${threads} - 1;
  new Worker(last
    ? "const c = require('node:child_process').spawn('sleep', ['60'], { stdio: 'ignore' }); require('node:worker_threads').parentPort.postMessage(c.pid); setInterval(() => {}, 1000);"
    : 'setInterval(() => {}, 1000);', { eval: true }).on('message', (pid) => console.log(pid));
}`;

describe('memory watch', () => {
  const started: ChildProcess[] = [];
  afterAll(() => {
    for (const c of started) c.kill('SIGKILL');
  });

  async function spawner(threads: number): Promise<{ root: number; child: number }> {
    const c = spawn(process.execPath, ['-e', SPAWNER(threads)], { stdio: ['ignore', 'pipe', 'inherit'] });
    started.push(c);
    let printed = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (printed += d));
    await eventually(() => /\d+\n/.test(printed), 20_000, 'the sleep pid');
    return { root: c.pid!, child: Number(printed.trim()) };
  }

  it.each([
    ['a few threads (each thread asked)', 4],
    ['more threads than are listed one by one (every process asked its parent)', 80],
  ])(
    'finds a child started by a thread other than the main one, with %s',
    async (_, threads) => {
      const { root, child } = await spawner(threads);
      // listed one by one up to 64 threads here (THREADS_LISTED on an agent)
      const tree = processTree(root, 64);
      expect(tree).toContain(root);
      expect(tree).toContain(child);
    },
    60_000,
  );

  it('waits ten times as long as the last measurement took, and never less than the interval', () => {
    expect(nextPollDelay(1)).toBe(MEMORY_POLL_MS);
    // a task's 20,000 threads made one walk take 224 ms: polled every 150 ms, the agent's loop did nothing else
    expect(nextPollDelay(224)).toBe(2240);
  });
});
