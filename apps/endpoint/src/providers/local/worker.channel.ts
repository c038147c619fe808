import { fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import { LineReader } from './line.reader.js';
import type { ParentToWorkerMessage, WorkerToParentMessage } from './worker.messages.js';

/** The descriptor the agent hands a worker its link on (worker.link.ts `linkStdio`). */
const LINK_FD = 3;
/**
 * JSON as it was when the worker started. Tasks run in this process and may replace globals (a public
 * function hooking JSON.stringify to see what its caller's later tasks send, or to break their
 * results); Node's IPC channel kept its own copies, and so does this link.
 */
const { stringify, parse } = JSON;

/**
 * A js worker's end of its link to the agent: newline-delimited JSON on fd 3, the same framing as a
 * python worker's. Not Node's IPC channel: the task runs in this process and can write to fd 3, and a
 * line Node's channel cannot parse is thrown in the agent, outside any handler, taking every tenant's
 * tasks down with it; a bad line on a pipe link only ends this worker (PipeLink in worker.link.ts).
 */
export class ParentChannel {
  private readonly socket: Socket;
  private readonly lines = new LineReader();
  private open = true;

  private constructor(onMessage: (message: ParentToWorkerMessage) => void, onClose: () => void) {
    this.socket = new Socket({ fd: LINK_FD, readable: true, writable: true });
    this.socket.setEncoding('utf8');
    // the agent's lines, trusted: this end guards nothing from them
    this.socket.on('data', (chunk: string) =>
      this.lines.push(chunk, (line) => {
        onMessage(parse(line) as ParentToWorkerMessage);
        return true;
      }),
    );
    this.socket.on('error', () => undefined); // the agent is gone: 'close' follows
    this.socket.on('close', () => {
      this.open = false;
      onClose();
    });
  }

  /** The channel, or undefined when this process was not started by the agent (no fd 3). */
  static open(onMessage: (message: ParentToWorkerMessage) => void, onClose: () => void): ParentChannel | undefined {
    try {
      fstatSync(LINK_FD);
    } catch {
      return undefined;
    }
    return new ParentChannel(onMessage, onClose);
  }

  get connected(): boolean {
    return this.open && this.socket.writable;
  }

  /** Writes the messages as one write; `written` once the bytes are in the pipe (or it is closed). */
  send(messages: WorkerToParentMessage[], written: () => void = () => undefined): void {
    if (!this.connected) return written();
    let text = '';
    for (let i = 0; i < messages.length; i++) text += `${stringify(messages[i])}\n`;
    this.socket.write(text, () => written());
  }
}
