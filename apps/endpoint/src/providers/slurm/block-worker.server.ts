import { timingSafeEqual } from 'node:crypto';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { WS_CLOSE, type PythonReport } from '@fx/protocol';
import type { ExecutionOutcome } from '../../runtimes/task.errors.js';
import type { Logger } from '../../agent/logger.js';
import type { Block, NodeConn, Slot } from './slurm.model.js';
import { NodeHello, NodeToAgent, type AgentToNode } from './worker.channel.js';

/**
 * Most bytes a block worker may send before its hello is accepted: anyone on the login node can dial
 * the server, and the secret is in the hello. A hello of 4,096 plain slots is about 170 KB.
 */
export const MAX_HELLO_BYTES = 256 * 1024;
/** Most connections at once that have not yet been admitted by a hello (each holds up to MAX_HELLO_BYTES). */
export const MAX_PENDING_WORKERS = 32;
/** Largest frame of an admitted worker: a task's outcome with its result inline. */
const MAX_WORKER_FRAME_BYTES = 256 * 1024 * 1024;

export interface BlockWorkerServerOptions {
  /** `host:port` to listen on (port 0: any free port). */
  listen: string;
  /** The host name block workers dial; default: this machine's. */
  address?: string;
  logger: Logger;
  /** The block a worker's hello names. */
  findBlock: (blockId: string) => Block | undefined;
  /** While true, every worker is refused (the provider is stopping). */
  isStopping: () => boolean;
  /** A worker proved it belongs to a live block; it is to be registered and welcomed. */
  onJoin: (conn: NodeConn, acceleratorNote: string | undefined) => void;
  /** A worker reports a task's outcome; `slot` is the one that ran it. */
  onDone: (conn: NodeConn, slot: Slot, outcome: ExecutionOutcome) => void;
  /** A joined worker reports its node's Python. */
  onPython: (conn: NodeConn, report: PythonReport) => void;
  /** A joined worker's connection closed. */
  onLeave: (conn: NodeConn) => void;
}

/**
 * The agent's end of the block channel: the websocket server that the FX worker of each node of each
 * block dials. A worker is admitted only with its block's secret and only while the block is live; it
 * must say hello within 10 s. What follows is handed to the provider as join, done and leave.
 */
export class BlockWorkerServer {
  private wss?: WebSocketServer;
  /** Connections without an accepted hello. */
  private pending = 0;

  constructor(private readonly options: BlockWorkerServerOptions) {}

  /** Listens; resolves with the `ws://host:port/` address the block workers are to dial. */
  async start(): Promise<string> {
    const [host, portText] = splitHostPort(this.options.listen);
    const wss = new WebSocketServer({ host, port: Number(portText), maxPayload: MAX_WORKER_FRAME_BYTES });
    await new Promise<void>((resolve, reject) => {
      wss.once('listening', resolve);
      wss.once('error', (error) => reject(new Error(`cannot listen for block workers on ${this.options.listen}: ${error.message}`)));
    });
    this.wss = wss;
    const port = (wss.address() as { port: number }).port;
    const address = `ws://${this.options.address ?? hostname()}:${port}/`;
    wss.on('connection', (ws, request) => this.onConnection(ws, request.socket));
    return address;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.wss ? this.wss.close(() => resolve()) : resolve()));
  }

  /**
   * Until its hello is accepted a connection may send MAX_HELLO_BYTES (counted on the socket, so a larger
   * frame is never assembled, and at most one socket read past it parsed), and at most MAX_PENDING_WORKERS such connections are open
   * at once: a frame of up to MAX_WORKER_FRAME_BYTES is for an admitted worker only.
   */
  private onConnection(ws: WebSocket, socket: Duplex): void {
    let received = 0;
    let refused = false;
    // before ws's own listener: the connection ends on the chunk that passes the limit (that one chunk,
    // one socket read, still reaches the frame parser: the listeners of an event are called in turn)
    const counted = (chunk: Buffer) => {
      received += chunk.length;
      if (received <= MAX_HELLO_BYTES || refused) return;
      refused = true;
      this.options.logger.warn(`refused a block worker: more than ${MAX_HELLO_BYTES} bytes before its hello`);
      ws.terminate();
    };
    socket.prependListener('data', counted);
    if (this.pending >= MAX_PENDING_WORKERS) {
      this.options.logger.warn(`refused a block worker: ${MAX_PENDING_WORKERS} connections are waiting for their hello already`);
      ws.close(WS_CLOSE.tooMany, 'too many connections without a hello');
      return;
    }
    this.pending++;
    let conn: NodeConn | undefined;
    let waiting = true;
    /** Admitted, or closed: no longer one of the connections waiting for their hello. */
    const waited = () => {
      if (!waiting) return;
      waiting = false;
      this.pending--;
      socket.off('data', counted);
    };
    const helloTimer = setTimeout(() => ws.close(WS_CLOSE.timeout, 'no hello'), 10_000);
    ws.on('message', (data) => {
      if (refused) return;
      let message: NodeToAgent;
      try {
        message = NodeToAgent.parse(JSON.parse(data.toString()));
      } catch (error) {
        this.options.logger.warn(`refused a frame from a block worker: ${error instanceof Error ? error.message.slice(0, 500) : String(error)}`, {
          blockId: conn?.block.id,
        });
        ws.close(WS_CLOSE.badRequest, 'bad frame');
        return;
      }
      if (!conn) {
        clearTimeout(helloTimer);
        const hello = NodeHello.safeParse(message);
        if (!hello.success) return ws.close(WS_CLOSE.badRequest, 'the first frame must be hello');
        const block = this.options.findBlock(hello.data.blockId);
        if (!block || !sameSecret(block.secret, hello.data.secret)) {
          this.options.logger.warn('refused a block worker: unknown block or wrong secret', { blockId: hello.data.blockId, node: hello.data.node });
          return ws.close(WS_CLOSE.unauthorized, 'unknown block or wrong secret');
        }
        if (block.state === 'ended' || block.state === 'cancelling' || this.options.isStopping())
          return ws.close(WS_CLOSE.unauthorized, 'this block is ending');
        conn = { ws, block, node: hello.data.node, slots: [] };
        waited();
        const c = conn;
        conn.slots = hello.data.slots.map((s) => ({
          conn: c,
          index: s.index,
          cores: s.cores,
          devices: s.devices,
          id: `${block.id}/${hello.data.node}/w${s.index}`,
        }));
        this.options.onJoin(conn, hello.data.acceleratorNote);
        return;
      }
      if (message.type === 'python') {
        this.options.onPython(conn, message.report);
        return;
      }
      if (message.type === 'live') {
        const live = conn.slots.find((s) => s.running?.task.taskId === message.taskId)?.running?.context.live;
        if (message.progress) live?.progress(message.progress);
        if (message.logs) live?.logs(message.logs);
        return;
      }
      if (message.type === 'done') {
        const slot = conn.slots.find((s) => s.running?.task.taskId === message.taskId);
        if (!slot) return;
        this.options.onDone(conn, slot, message.outcome as ExecutionOutcome);
      }
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      clearTimeout(helloTimer);
      waited();
      if (conn) this.options.onLeave(conn);
    });
  }
}

/** One frame to a node's worker; dropped when its socket is no longer open (its close handler follows). */
export function sendToNode(ws: WebSocket, message: AgentToNode): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function splitHostPort(listen: string): [string, string] {
  const at = listen.lastIndexOf(':');
  if (at < 0) return [listen, '0'];
  return [listen.slice(0, at).replace(/^\[|\]$/g, ''), listen.slice(at + 1)];
}
