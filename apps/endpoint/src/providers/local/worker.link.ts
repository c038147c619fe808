import type { ChildProcess } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { LineReader } from './line.reader.js';
import type { ParentToWorkerMessage, WorkerToParentMessage } from './worker.messages.js';

/**
 * How the pool and one worker process talk, whatever its language: newline-delimited JSON over a pipe
 * of its own (fd 3), never over stdout, which user code prints to. Not Node's IPC channel for js: a
 * task can write to the worker's fd 3, and a line Node cannot parse is thrown in the agent outside any
 * handler (the agent and every tenant's tasks with it); a bad line here ends that one worker.
 */
export interface WorkerLink {
  send(message: ParentToWorkerMessage, done?: (error: Error | null) => void): void;
  /** Whether a message can still be sent. */
  readonly connected: boolean;
  /** Closes the link: an idle worker then exits by itself. */
  disconnect(): void;
  onMessage(listener: (message: WorkerToParentMessage) => void): void;
  /** A worker that broke the link's framing (garbage on its pipe): the pool ends it. */
  onBroken(listener: (why: string) => void): void;
}

/**
 * The spawn `stdio` of a worker: fd 3 carries the link; stdout and stderr are pipes the agent reads
 * (worker.output.ts), never the agent's own: a task that held them could read back through
 * /proc/self/fd/1 the agent's log (endpoint.log), with what other users' tasks printed, and fill it.
 */
export function linkStdio(): ['ignore', 'pipe', 'pipe', 'pipe'] {
  return ['ignore', 'pipe', 'pipe', 'pipe'];
}

export function openLink(child: ChildProcess, maxLineChars: number): WorkerLink {
  return new PipeLink(child.stdio[3] as Duplex, maxLineChars);
}

type SendDone = (error: Error | null) => void;

/**
 * The messages sent to one worker in one turn of the event loop, written at its end as one write. Each
 * write to a worker is a system call that wakes it, and it was the agent's largest self time in a
 * 20,000-task batch (about 60 µs a task on 2 cores: bench/README.md); a lease frame hands a worker
 * several tasks in one turn, and a `run` waiting for the turn's end costs a task microseconds.
 */
class Coalescer {
  private messages: ParentToWorkerMessage[] = [];
  private callbacks: SendDone[] = [];
  private scheduled?: NodeJS.Immediate;

  constructor(private readonly write: (messages: ParentToWorkerMessage[], done: SendDone) => void) {}

  push(message: ParentToWorkerMessage, done: SendDone): void {
    this.messages.push(message);
    this.callbacks.push(done);
    this.scheduled ??= setImmediate(() => this.flush());
  }

  /** Writes what is waiting now (also before the link closes, so that nothing sent is left behind). */
  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const { messages, callbacks } = this;
    if (messages.length === 0) return;
    this.messages = [];
    this.callbacks = [];
    this.write(messages, (error) => {
      for (const done of callbacks) done(error);
    });
  }
}

/** Newline-delimited JSON over a socket pair; a line longer than `maxLineChars` breaks the link. */
class PipeLink implements WorkerLink {
  private readonly lines = new LineReader();
  private isBroken = false;
  private open = true;
  private readonly listeners: Array<(message: WorkerToParentMessage) => void> = [];
  private readonly brokenListeners: Array<(why: string) => void> = [];
  // newline-delimited already: one turn's lines go out as one write, with no envelope
  private readonly out = new Coalescer((messages, done) => {
    if (!this.connected) return done(new Error('the worker pipe is closed'));
    this.socket.write(messages.map((m) => `${JSON.stringify(m)}\n`).join(''), (error) => done(error ?? null));
  });

  constructor(
    private readonly socket: Duplex,
    private readonly maxLineChars: number,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.receive(chunk));
    socket.on('error', () => undefined); // the exit handler reports what the worker's end means
    socket.on('close', () => (this.open = false));
  }

  send(message: ParentToWorkerMessage, done: SendDone = () => undefined): void {
    if (!this.connected) {
      done(new Error('the worker pipe is closed'));
      return;
    }
    this.out.push(message, done);
  }

  get connected(): boolean {
    return this.open && this.socket.writable;
  }

  disconnect(): void {
    this.out.flush();
    this.open = false;
    this.socket.end();
  }

  onMessage(listener: (message: WorkerToParentMessage) => void): void {
    this.listeners.push(listener);
  }

  onBroken(listener: (why: string) => void): void {
    this.brokenListeners.push(listener);
  }

  private receive(chunk: string): void {
    if (this.isBroken) return;
    this.lines.push(chunk, (line) => {
      let message: WorkerToParentMessage;
      try {
        message = JSON.parse(line) as WorkerToParentMessage;
      } catch {
        this.broken(`sent a line that is not JSON: ${line.slice(0, 80)}`);
        return false;
      }
      if (message === null || typeof message !== 'object' || typeof message.type !== 'string') {
        this.broken('sent a message without a type');
        return false;
      }
      for (const listener of this.listeners) listener(message);
      return true;
    });
    if (this.lines.pendingChars > this.maxLineChars) this.broken(`sent a message longer than ${this.maxLineChars} characters`);
  }

  private broken(why: string): void {
    this.isBroken = true;
    this.lines.clear();
    this.socket.pause();
    for (const listener of this.brokenListeners) listener(why);
  }
}
