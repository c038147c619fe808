import { PassThrough } from 'node:stream';
import { WorkerOutput } from './worker.output.js';

const limits = { shareBytes: 10, shares: 4, tails: 1, tailBytes: 6, windowMs: 60_000 };

function harness() {
  const printed: string[] = [];
  const sink = {
    stdout: (c: Buffer | string) => void printed.push(`out:${c.toString()}`),
    stderr: (c: Buffer | string) => void printed.push(`err:${c.toString()}`),
  };
  let t = 0;
  const output = new WorkerOutput(sink, limits, () => t);
  const worker = (owner?: string) => {
    const w = { owner, stdout: new PassThrough(), stderr: new PassThrough() };
    output.attach(w.stdout, w.stderr, () => w.owner);
    return w;
  };
  const ends = (w: ReturnType<typeof worker>) => {
    w.stdout.destroy();
    w.stderr.destroy();
    return new Promise<void>((resolve) => setImmediate(resolve));
  };
  const copied = () => printed.filter((p) => !p.includes('[fx-endpoint]'));
  return { printed, copied, worker, ends, at: (ms: number) => (t = ms) };
}

describe('WorkerOutput', () => {
  it("copies another owner's line after one owner spent its share", () => {
    const { copied, worker, printed } = harness();
    const alice = worker('alice');
    const bob = worker('bob');
    alice.stdout.write('a'.repeat(50));
    bob.stderr.write('bob here\n');
    expect(copied()).toEqual([`out:${'a'.repeat(10)}`, 'err:bob here\n']);
    expect(printed.filter((p) => p.includes('more than 10 bytes'))).toHaveLength(1);
  });

  it("charges a chunk to the owner the worker has when it is read, and a worker's start-up to no owner", () => {
    const { copied, worker } = harness();
    const w = worker();
    w.stdout.write('s'.repeat(10)); // spends the share of "no task yet"
    w.owner = 'alice';
    w.stdout.write('mine');
    expect(copied()).toEqual([`out:${'s'.repeat(10)}`, 'out:mine']);
  });

  it("copies the last tailBytes of a worker that ends while its owner's share is spent, once", async () => {
    const { printed, copied, worker, ends } = harness();
    const alice = worker('alice');
    alice.stdout.write('a'.repeat(12));
    alice.stderr.write('dying: boom\n');
    await ends(alice);
    expect(copied()).toEqual([`out:${'a'.repeat(10)}`, 'err: boom\n']);
    expect(printed.some((p) => p.includes('the last 6 bytes it printed'))).toBe(true);
    // her share takes one tail a window: the next of her workers to die is not copied
    const again = worker('alice');
    again.stderr.write('second death\n');
    await ends(again);
    expect(copied()).toHaveLength(2);
  });

  it('copies no tail when the last output was copied (a worker that ends within its share, or after a new window)', async () => {
    const { printed, worker, ends, at } = harness();
    const quiet = worker('bob');
    quiet.stdout.write('fine');
    await ends(quiet);
    const loud = worker('alice');
    loud.stdout.write('a'.repeat(20));
    at(60_000);
    loud.stdout.write('again');
    await ends(loud);
    expect(printed.some((p) => p.includes('a worker ended'))).toBe(false);
    expect(printed.at(-1)).toBe('out:again');
  });
});
