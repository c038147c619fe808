/**
 * Newline-delimited text arriving in chunks (a worker link's JSON lines): whole lines out, the unfinished
 * one kept. Only each new chunk is searched: a 10 MB message arrives in many chunks and must not be
 * rescanned for each.
 */
export class LineReader {
  private pending: string[] = [];
  /** Characters of the unfinished line kept so far. */
  pendingChars = 0;

  /** Hands over each line the chunk completes, in order, until `onLine` returns false (the rest is dropped). */
  push(chunk: string, onLine: (line: string) => boolean): void {
    let start = 0;
    let newline: number;
    while ((newline = chunk.indexOf('\n', start)) >= 0) {
      this.pending.push(chunk.slice(start, newline));
      const line = this.pending.join('');
      this.clear();
      start = newline + 1;
      if (!onLine(line)) return;
    }
    if (start < chunk.length) {
      this.pending.push(chunk.slice(start));
      this.pendingChars += chunk.length - start;
    }
  }

  clear(): void {
    this.pending = [];
    this.pendingChars = 0;
  }
}
