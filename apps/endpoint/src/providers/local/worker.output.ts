import type { Readable } from 'node:stream';
import { OutputBudget, OutputTail, type OutputBudgetLimits } from './worker-output.budget.js';

export interface WorkerOutputLimits extends OutputBudgetLimits {
  /** The most of a dying worker's last output copied past its owner's share. */
  tailBytes: number;
}

/**
 * 8 MiB a minute for a pool's workers, as before owners had shares, in 8 shares of 1 MiB (7 owners with
 * one each, the rest sharing the last); plus, for each share, the last 4 KiB of up to 16 dying workers.
 */
export const WORKER_OUTPUT_LIMITS: Readonly<WorkerOutputLimits> = Object.freeze({
  shareBytes: 1024 * 1024,
  shares: 8,
  tails: 16,
  tailBytes: 4 * 1024,
  windowMs: 60_000,
});

/** Where a pool's workers' stdout and stderr go: the agent's own streams unless told otherwise (tests). */
export interface WorkerOutputSink {
  stdout: (chunk: Buffer | string) => void;
  stderr: (chunk: Buffer | string) => void;
}

type StreamName = keyof WorkerOutputSink;

const agentStreams: WorkerOutputSink = {
  stdout: (chunk) => void process.stdout.write(chunk),
  stderr: (chunk) => void process.stderr.write(chunk),
};

/** The owner of what a worker prints before its first task (its runtime starting up). */
const NO_TASK_YET = '';

/**
 * What a pool's workers print goes on to the agent's stdout and stderr (a detached agent's endpoint.log),
 * as it did when the workers held those streams, within a budget: the workers run users' code, which
 * would otherwise fill the disk that holds the agent's spool. Past it, one line says so and the rest is
 * read and dropped (a worker is never blocked on its pipes). What a task prints reaches its owner in the
 * task's own output and live logs either way.
 *
 * The budget is split by owner (OutputBudget), so that one owner's flood (another user's task printing
 * megabytes under bubblewrap) hides only its own output, not every tenant's for the rest of the minute.
 * What a worker prints is its owner's: a worker serves one owner for its whole life (it is replaced
 * before it serves another, see WorkerPool), so the owner it has when a chunk is read is the one whose
 * task wrote it; before its first task it has none. And a worker that ends while its output is being
 * dropped (a crash: its task fails WORKER_LOST) has its last `tailBytes` copied all the same, once both
 * its pipes are read to their end: that is the message an operator looks for. Those tails are bounded
 * too, a number per share and window, so that workers dying in a loop cannot flood the log either.
 */
export class WorkerOutput {
  private readonly limits: WorkerOutputLimits;
  private readonly budget: OutputBudget;

  constructor(
    private readonly sink: WorkerOutputSink = agentStreams,
    limits: Partial<WorkerOutputLimits> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.limits = { ...WORKER_OUTPUT_LIMITS, ...limits };
    this.budget = new OutputBudget(this.limits);
  }

  /**
   * Copies one worker's streams (both read to their end, whatever is kept); `ownerOf` says whose task
   * the worker runs or ran (undefined before its first).
   */
  attach(stdout: Readable | null, stderr: Readable | null, ownerOf: () => string | undefined): void {
    const tail = new OutputTail<StreamName>(this.limits.tailBytes);
    let open = 2;
    const closed = () => {
      if (--open === 0) this.copyTail(tail, ownerOf() ?? NO_TASK_YET);
    };
    for (const [stream, name] of [
      [stdout, 'stdout'],
      [stderr, 'stderr'],
    ] as const) {
      if (!stream) {
        closed();
        continue;
      }
      stream.on('data', (chunk: Buffer) => this.copy(name, chunk, ownerOf() ?? NO_TASK_YET, tail));
      stream.on('error', () => undefined); // the worker's exit is reported by its process
      stream.once('close', closed);
    }
  }

  private copy(name: StreamName, chunk: Buffer, owner: string, tail: OutputTail<StreamName>): void {
    const { kept, spent } = this.budget.take(owner, chunk.length, this.now());
    if (kept > 0) {
      tail.clear();
      this.sink[name](kept === chunk.length ? chunk : chunk.subarray(0, kept));
    }
    if (kept < chunk.length) tail.add(name, chunk.subarray(kept));
    if (spent) {
      const whose = spent === 'owner' ? 'the workers of one owner' : `the workers of the owners past the first ${this.limits.shares - 1}`;
      this.sink.stderr(
        `\n[fx-endpoint] ${whose} printed more than ${this.limits.shareBytes} bytes within ${this.limits.windowMs / 1000} s; the rest of it is not copied here, but for the last ${this.limits.tailBytes} bytes of a worker that ends meanwhile\n`,
      );
    }
  }

  private copyTail(tail: OutputTail<StreamName>, owner: string): void {
    const bytes = tail.bytes;
    if (bytes === 0 || !this.budget.takeTail(owner, this.now())) return;
    const pieces = tail.take();
    this.sink.stderr(`\n[fx-endpoint] a worker ended; the last ${bytes} bytes it printed, past its owner's share:\n`);
    for (const piece of pieces) this.sink[piece.name](piece.bytes);
    if (pieces.at(-1)?.bytes.at(-1) !== 0x0a) this.sink.stderr('\n');
  }
}
