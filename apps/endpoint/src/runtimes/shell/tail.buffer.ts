import { MAX_OUTPUT_CHARS, type TaskOutput } from '@fx/protocol';

/**
 * Keeps the last `maxLines` lines of a stream (and at most `maxChars` characters), so a chatty command
 * cannot grow the agent's memory or the result frame without bound.
 */
export class TailBuffer {
  private lines: string[] = [];
  private partial = '';
  private dropped = false;

  constructor(
    private readonly maxLines: number,
    private readonly maxChars = 4 * 1024 * 1024,
  ) {}

  push(chunk: string): void {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    if (this.partial.length > this.maxChars) {
      this.partial = this.partial.slice(-this.maxChars);
      this.dropped = true;
    }
    for (const line of parts) this.lines.push(line);
    // Trim in bulk rather than per line: shift() on a long array is linear.
    if (this.lines.length > this.maxLines * 2 + 64) this.trim();
  }

  /** The kept text; a trailing newline is kept when the stream ended with one. */
  text(): string {
    this.trim();
    const kept = this.lines.slice();
    let out = kept.length > 0 ? kept.join('\n') + '\n' : '';
    if (this.partial !== '') out += this.partial;
    // A final partial line counts as a line too.
    if (this.partial !== '' && kept.length >= this.maxLines) out = out.slice(out.indexOf('\n') + 1);
    if (out.length > this.maxChars) {
      out = out.slice(-this.maxChars);
      this.dropped = true;
    }
    return out;
  }

  get truncated(): boolean {
    return this.dropped;
  }

  private trim(): void {
    if (this.lines.length > this.maxLines) {
      this.lines = this.lines.slice(this.lines.length - this.maxLines);
      this.dropped = true;
    }
  }
}

/** What a task printed, as a TaskOutput (at most MAX_OUTPUT_CHARS of each stream); undefined when it printed nothing. */
export function tailOutput(stdout: TailBuffer, stderr: TailBuffer): TaskOutput | undefined {
  const [out, err] = [stdout.text(), stderr.text()];
  if (out === '' && err === '') return undefined;
  const truncated = stdout.truncated || stderr.truncated || out.length > MAX_OUTPUT_CHARS || err.length > MAX_OUTPUT_CHARS;
  return { stdout: out.slice(-MAX_OUTPUT_CHARS), stderr: err.slice(-MAX_OUTPUT_CHARS), ...(truncated ? { truncated: true } : {}) };
}
