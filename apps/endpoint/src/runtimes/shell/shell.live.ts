import { MAX_PROGRESS_VALUE_BYTES } from '@fx/protocol';

type LogStream = 'stdout' | 'stderr';
import type { LiveSink } from '../../providers/provider.js';

/** A stdout line longer than this is not held back waiting for its end: it goes to the logs as it comes. */
const MAX_HELD_LINE_CHARS = 64 * 1024;

/**
 * The live streams of one shell task: stderr, and stdout, go to the logs as they come, except that with
 * a progress prefix stdout is read by lines, and a line that starts with the prefix is a progress value
 * (the rest of the line, as JSON if it parses, else the text) and no log line. The task's result keeps
 * everything it printed, as before.
 */
export class ShellLive {
  private count = 0;
  private partial = '';

  constructor(
    private readonly sink: LiveSink,
    private readonly prefix: string | undefined,
  ) {}

  printed(stream: LogStream, text: string): void {
    if (stream === 'stderr' || this.prefix === undefined) return this.log(stream, text);
    let data = this.partial + text;
    this.partial = '';
    let logged = '';
    let newline: number;
    while ((newline = data.indexOf('\n')) >= 0) {
      const line = data.slice(0, newline + 1);
      data = data.slice(newline + 1);
      if (line.startsWith(this.prefix)) {
        this.log('stdout', logged);
        logged = '';
        this.progress(line.slice(this.prefix.length).replace(/\r?\n$/, ''));
      } else logged += line;
    }
    this.log('stdout', logged);
    // the start of a line: held until its end shows whether it is progress (unless it cannot be)
    if (data.length > MAX_HELD_LINE_CHARS || (data.length >= this.prefix.length && !data.startsWith(this.prefix))) this.log('stdout', data);
    else this.partial = data;
  }

  /** The command ended: a last line without a newline counts too. */
  end(): void {
    const rest = this.partial;
    this.partial = '';
    if (rest === '') return;
    if (this.prefix !== undefined && rest.startsWith(this.prefix)) this.progress(rest.slice(this.prefix.length));
    else this.log('stdout', rest);
  }

  private log(stream: LogStream, text: string): void {
    if (text !== '') this.sink.logs([{ stream, at: Date.now(), text }]);
  }

  private progress(rest: string): void {
    let json: string;
    try {
      json = JSON.stringify(JSON.parse(rest));
    } catch {
      json = JSON.stringify(rest);
    }
    const bytes = Buffer.byteLength(json);
    if (bytes > MAX_PROGRESS_VALUE_BYTES) json = JSON.stringify({ $fx: 'progress-too-large', bytes });
    this.sink.progress({ seq: ++this.count, at: Date.now(), json });
  }
}
