import { MAX_OUTPUT_CHARS, type TaskOutput } from '@fx/protocol';

/**
 * Keeps the last `maxLines` lines of a stream, and of those at most the last `maxChars` characters, so a
 * chatty command cannot grow the agent's memory or the result frame without bound. What it holds between
 * trims is bounded by characters as well as by lines: 200 lines of 3 MB each made text() build a string
 * past V8's largest and throw, in the shell runtime's 'close' handler, which ended the agent.
 */
export class TailBuffer {
  private lines: string[] = [];
  /** The characters of `lines`, a newline after each. */
  private chars = 0;
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
    for (const line of parts) {
      this.lines.push(line);
      this.chars += line.length + 1;
    }
    // Trim in bulk rather than per line: shift() on a long array is linear.
    if (this.lines.length > this.maxLines * 2 + 64 || this.chars > this.maxChars * 2) this.trim();
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

  /** Down to the last maxLines lines, then to the fewest last lines that hold maxChars characters. */
  private trim(): void {
    let first = Math.max(0, this.lines.length - this.maxLines);
    for (let i = 0; i < first; i++) this.chars -= this.lines[i]!.length + 1;
    while (first < this.lines.length - 1 && this.chars - (this.lines[first]!.length + 1) >= this.maxChars) {
      this.chars -= this.lines[first]!.length + 1;
      first++;
    }
    if (first > 0) {
      this.lines = this.lines.slice(first);
      this.dropped = true;
    }
    // one line longer than all that is kept: its end
    const only = this.lines.length === 1 ? this.lines[0]! : undefined;
    if (only !== undefined && only.length > this.maxChars) {
      this.lines[0] = only.slice(-this.maxChars);
      this.chars = this.maxChars + 1;
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
