import type { Readable } from 'node:stream';

/** Bytes of workers' stdout and stderr one pool copies to the agent's own streams per window. */
export const WORKER_OUTPUT_BYTES = 8 * 1024 * 1024;
export const WORKER_OUTPUT_WINDOW_MS = 60_000;

/** Where a pool's workers' stdout and stderr go: the agent's own streams unless told otherwise (tests). */
export interface WorkerOutputSink {
  stdout: (chunk: Buffer | string) => void;
  stderr: (chunk: Buffer | string) => void;
}

const agentStreams: WorkerOutputSink = {
  stdout: (chunk) => void process.stdout.write(chunk),
  stderr: (chunk) => void process.stderr.write(chunk),
};

/**
 * What a pool's workers print goes on to the agent's stdout and stderr (a detached agent's endpoint.log),
 * as it did when the workers held those streams, up to WORKER_OUTPUT_BYTES a minute for all of them: the
 * workers run users' code, which would otherwise fill the disk that holds the agent's spool. Past it, one
 * line says so and the rest of the window's output is read and dropped (a worker is never blocked on
 * its pipes). What a task prints reaches its owner in the task's own output and live logs either way.
 */
export class WorkerOutput {
  private windowStart = 0;
  private left = 0;

  constructor(
    private readonly sink: WorkerOutputSink = agentStreams,
    private readonly budget = WORKER_OUTPUT_BYTES,
    private readonly windowMs = WORKER_OUTPUT_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Copies one worker's streams (both read to their end, whatever is kept). */
  attach(stdout: Readable | null, stderr: Readable | null): void {
    for (const [stream, name] of [
      [stdout, 'stdout'],
      [stderr, 'stderr'],
    ] as const) {
      stream?.on('data', (chunk: Buffer) => this.copy(name, chunk));
      stream?.on('error', () => undefined); // the worker's exit is reported by its process
    }
  }

  private copy(name: keyof WorkerOutputSink, chunk: Buffer): void {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) {
      this.windowStart = t;
      this.left = this.budget;
    }
    if (this.left <= 0) return;
    const kept = chunk.length <= this.left ? chunk : chunk.subarray(0, this.left);
    this.left -= kept.length;
    this.sink[name](kept);
    if (this.left === 0)
      this.sink.stderr(`\n[fx-endpoint] workers printed more than ${this.budget} bytes within ${this.windowMs / 1000} s; the rest of it is not copied here\n`);
  }
}
