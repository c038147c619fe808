import { MAX_PROGRESS_VALUE_BYTES, findJsonInfidelity } from '@fx/protocol';

/** What a task itself prints to (the agent's own lines about it are LogStream `agent`). */
type LogStream = 'stdout' | 'stderr';

/** How often a worker sends what is pending of its running task's live streams. */
export const WORKER_FLUSH_MS = 50;
/** Printed text gathered beyond this goes at once rather than at the next flush. */
const MAX_PENDING_CHARS = 256 * 1024;

/** The latest progress value of a task as a worker reports it: JSON text, produced once, in the worker. */
export interface WorkerProgress {
  seq: number;
  at: number;
  json: string;
}
export interface WorkerLogs {
  stream: LogStream;
  at: number;
  text: string;
}
/** What a worker sends of its running task's live streams, at most every WORKER_FLUSH_MS. */
export interface LiveMessage {
  type: 'live';
  taskId: string;
  progress?: WorkerProgress;
  logs?: WorkerLogs[];
}

/**
 * The live streams of the task a js worker runs: `ctx.emit(value)` keeps only the latest value and a
 * count (a burst of emits costs the link one message per flush, not one per emit), and what the task writes
 * to process.stdout / process.stderr is gathered, still reaching the worker's own streams as before.
 * `end()` sends what is pending; the worker calls it before it reports the task done.
 */
export class WorkerLive {
  private taskId?: string;
  private count = 0;
  private latest?: WorkerProgress;
  private logs: WorkerLogs[] = [];
  private pendingChars = 0;
  private timer?: NodeJS.Timeout;
  private readonly writes = new Map<LogStream, NodeJS.WriteStream['write']>();

  constructor(private readonly send: (message: LiveMessage) => void) {}

  begin(taskId: string): void {
    this.taskId = taskId;
    this.count = 0;
    this.latest = undefined;
    this.logs = [];
    this.pendingChars = 0;
    this.tap('stdout', process.stdout);
    this.tap('stderr', process.stderr);
  }

  end(): void {
    this.untap();
    this.flush();
    this.taskId = undefined;
  }

  emit(value: unknown): void {
    if (this.taskId === undefined) throw new Error('ctx.emit was called after the task ended');
    const problem = value === undefined ? undefined : findJsonInfidelity(value, 'value');
    if (problem) throw new TypeError(`ctx.emit: the value cannot travel as JSON: ${problem.message}`);
    let json = JSON.stringify(value ?? null) ?? 'null';
    const bytes = json.length > MAX_PROGRESS_VALUE_BYTES / 3 ? Buffer.byteLength(json) : json.length;
    if (bytes > MAX_PROGRESS_VALUE_BYTES) json = JSON.stringify({ $fx: 'progress-too-large', bytes });
    this.latest = { seq: ++this.count, at: Date.now(), json };
    this.schedule();
  }

  private printed(stream: LogStream, chunk: unknown): void {
    if (this.taskId === undefined) return;
    const text = typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : '';
    if (text === '') return;
    // one write's tail at most: a message on the worker's link is one line of at most a frame's worth,
    // and the agent keeps a task's last lines only (maxTaskLogMB) anyway
    const kept = text.length > MAX_PENDING_CHARS ? text.slice(-MAX_PENDING_CHARS).replace(/^[\uDC00-\uDFFF]/, '') : text;
    this.logs.push({ stream, at: Date.now(), text: kept });
    this.pendingChars += kept.length;
    if (this.pendingChars >= MAX_PENDING_CHARS) this.flush();
    else this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, WORKER_FLUSH_MS);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.taskId === undefined || (this.latest === undefined && this.logs.length === 0)) return;
    const message: LiveMessage = { type: 'live', taskId: this.taskId };
    if (this.latest) message.progress = this.latest;
    if (this.logs.length > 0) message.logs = this.logs;
    this.latest = undefined;
    this.logs = [];
    this.pendingChars = 0;
    this.send(message);
  }

  /** Copies what the task writes to `stream` into its logs; the write itself goes on as before. */
  private tap(name: LogStream, stream: NodeJS.WriteStream): void {
    if (this.writes.has(name)) return;
    const write = stream.write;
    this.writes.set(name, write);
    stream.write = ((chunk: unknown, encoding?: unknown, callback?: unknown) => {
      this.printed(name, chunk);
      return (write as (...a: unknown[]) => boolean).call(stream, chunk, encoding, callback);
    }) as NodeJS.WriteStream['write'];
  }

  private untap(): void {
    for (const [name, write] of this.writes) (name === 'stdout' ? process.stdout : process.stderr).write = write;
    this.writes.clear();
  }
}
