import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import WebSocket from 'ws';
import {
  DEFAULT_LIMITS,
  ENDPOINT_CLOSE,
  ENDPOINT_PROTOCOL_VERSION,
  FrameError,
  ServerToEndpointSchemas,
  backoffDelay,
  encodeFrame,
  parseFrame,
  type EndpointToServer,
  type BackoffOptions,
  type ErrorBody,
  type Frame,
  type HeartbeatPayload,
  type TasksPayload,
  type WelcomePayload,
} from '@fx/protocol';
import { AGENT_VERSION } from '../version.js';
import { AgentRefusedError, FATAL_ERROR_CODES } from './agent.errors.js';
import type { Logger } from './logger.js';
import type { ConnectionState } from './status.file.js';
import { HeartbeatPacer, type Cadence } from './heartbeat.pacer.js';

/** Close codes of the endpoint channel that stop the agent: another agent serves the endpoint, or took it over. */
const ALREADY_SERVED = ENDPOINT_CLOSE.replaced;
const TAKEN_OVER = ENDPOINT_CLOSE.takenOver;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface AgentSessionOptions {
  /** The server's http(s) URL. */
  url: string;
  /** The endpoint token. */
  token: string;
  /** The endpoint's name, for `hello`. */
  name: string;
  /** Ask the server to replace an agent already serving the endpoint (until this one is first welcomed). */
  takeover: boolean;
  /** @default 10000 */
  handshakeTimeoutMs?: number;
  reconnect?: BackoffOptions;
  log: Logger;
  /** Read at each dial: the provider, its worker count, the task ids this agent still holds, and whether it runs only its owner's tasks. */
  hello: () => { provider: string; workers: number; inFlight: string[]; ownerOnly?: boolean };
  /** Read at each heartbeat. */
  heartbeat: () => HeartbeatPayload;
}

export interface AgentSessionEvents {
  /** A dial begins. */
  dialing: [];
  /** The server welcomed this agent; the frames below come only after it. */
  welcome: [welcome: WelcomePayload];
  tasks: [payload: TasksPayload];
  /** The server made these results durable. */
  /** `copies`: results of speculative copies acknowledged. */
  ack: [taskIds: string[], copies: string[]];
  /** `copy`: only the tasks' speculative copies (true), only the originals (false), or both (undefined). */
  cancel: [taskIds: string[], copy: boolean | undefined];
  /** A heartbeat tick passed (the heartbeat frame itself may have been left out: HeartbeatPacer). */
  beat: [];
  /** Something a person should hear of (already logged as a warning). */
  problem: [message: string];
  /** The socket closed; the session dials again unless it is closing or was refused. */
  closed: [];
}

type ServerFrame = Frame<typeof ServerToEndpointSchemas>;

/** One dial: its socket and what the server said on it. */
interface Connection {
  ws: WebSocket;
  welcome?: WelcomePayload;
  lastHeardAt: number;
}

/**
 * The agent's side of the endpoint channel: dials the server, says `hello`, waits for `welcome`, keeps
 * heartbeats going, and dials again with backoff whenever the socket goes, until it is closed or the
 * server refuses this agent for good. Frames in are parsed and handed on as typed events.
 */
export class AgentSession extends EventEmitter<AgentSessionEvents> {
  /** Random per agent process: tells the server a reconnect of this agent from a second agent on the same endpoint. */
  private readonly instanceId = randomUUID();
  private readonly wsUrl: string;
  private readonly handshakeTimeoutMs: number;
  private everWelcomed = false;
  private state: ConnectionState = 'disconnected';
  private welcomedAt?: string;
  private current?: Connection;
  private closing = false;
  private wakeSleeper?: () => void;
  private refusal?: AgentRefusedError;

  constructor(private readonly options: AgentSessionOptions) {
    super();
    this.wsUrl = endpointSocketUrl(options.url);
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  }

  get connection(): ConnectionState {
    return this.state;
  }

  /** ISO time of the last welcome. */
  get connectedAt(): string | undefined {
    return this.welcomedAt;
  }

  /** Whether a socket is still attached (open, opening or closing). */
  get attached(): boolean {
    return this.current !== undefined;
  }

  /** Whether frames other than `hello` can go: welcomed, and the socket open. */
  get live(): boolean {
    const c = this.current;
    return c?.welcome !== undefined && c.ws.readyState === WebSocket.OPEN;
  }

  /** Sends on the live connection; false (nothing sent) when there is none. */
  send<K extends keyof EndpointToServer & string>(type: K, payload: EndpointToServer[K]): boolean {
    return this.live && this.sendOn(this.current as Connection, type, payload);
  }

  /**
   * Dials, and dials again with backoff after every close, until close() or a refusal that retrying
   * cannot fix. Resolves with that refusal, or undefined after close().
   */
  async run(): Promise<AgentRefusedError | undefined> {
    let attempt = 0;
    while (!this.closing) {
      const welcomed = await this.connectOnce();
      if (this.refusal) return this.refusal;
      if (this.closing) return undefined;
      if (welcomed) attempt = 0;
      const delay = backoffDelay(attempt++, this.options.reconnect);
      this.options.log.info(`reconnecting in ${delay} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wakeSleeper = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeSleeper = undefined;
    }
    return undefined;
  }

  /** Stops dialling and closes the socket (normal closure, `reason`); run() resolves once it is closed. */
  close(reason: string): void {
    this.closing = true;
    this.wakeSleeper?.();
    this.current?.ws.close(ENDPOINT_CLOSE.normal, reason);
  }

  /** Drops the socket without a closing handshake. */
  terminate(): void {
    this.current?.ws.terminate();
  }

  /** One connection, from dial to close. Resolves whether it was welcomed. */
  private connectOnce(): Promise<boolean> {
    this.state = 'connecting';
    this.emit('dialing');
    return new Promise<boolean>((resolve) => {
      const ws = new WebSocket(this.wsUrl, {
        headers: { Authorization: `Bearer ${this.options.token}` },
        maxPayload: DEFAULT_LIMITS.maxFrameBytes,
        handshakeTimeout: this.handshakeTimeoutMs,
      });
      const connection: Connection = { ws, lastHeardAt: Date.now() };
      this.current = connection;
      let heartbeatTimer: NodeJS.Timeout | undefined;
      const handshakeTimer = setTimeout(() => {
        this.problem(`the server did not welcome this agent within ${this.handshakeTimeoutMs} ms`);
        ws.terminate();
      }, this.handshakeTimeoutMs);

      const heard = () => (connection.lastHeardAt = Date.now());
      ws.on('ping', heard);
      ws.on('pong', heard);
      ws.on('unexpected-response', (_req, res) => {
        // The server refused the upgrade itself (an HTTP status rather than an `error` frame).
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body = (body + chunk).slice(0, 4096)));
        const settle = () => {
          const detail = describeErrorBody(body) ?? `HTTP ${res.statusCode}`;
          const message = `the server refused the connection: ${detail}`;
          if (res.statusCode === 401 || res.statusCode === 403) this.refusal ??= new AgentRefusedError('HTTP_REFUSED', message);
          else this.problem(message);
          ws.terminate();
        };
        res.on('end', settle);
        res.on('error', settle);
      });
      ws.on('open', () => {
        heard();
        this.sayHello(connection);
      });
      ws.on('message', (data) => {
        heard();
        const frame = this.parse(connection, data.toString());
        if (frame?.type === 'welcome') {
          clearTimeout(handshakeTimer);
          this.onWelcome(connection, frame.payload);
          heartbeatTimer = this.beat(connection, frame.payload);
        } else if (frame) {
          this.dispatch(connection, frame);
        }
      });
      ws.on('error', (error) => this.problem(`connection to ${this.wsUrl} failed: ${error.message}`));
      ws.on('close', (code, reason) => {
        clearTimeout(handshakeTimer);
        // Another agent serves this endpoint (refused before welcome), or took it over: stop, do not reconnect.
        if (code === TAKEN_OVER || (code === ALREADY_SERVED && connection.welcome === undefined)) {
          this.refusal ??= new AgentRefusedError('CONFLICT', `the server says: ${reason.toString() || 'another agent serves this endpoint'} (CONFLICT)`);
        }
        if (heartbeatTimer) clearInterval(heartbeatTimer);
        const welcomed = connection.welcome !== undefined;
        // Closed by this agent's own stop (or refusal): said at info; a lost connection is a warning.
        if (welcomed)
          this.options.log[this.closing ? 'info' : 'warn'](`disconnected from the server (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`);
        if (this.current === connection) this.current = undefined;
        this.state = 'disconnected';
        this.emit('closed');
        resolve(welcomed);
      });
    });
  }

  private sayHello(connection: Connection): void {
    const { provider, workers, inFlight, ownerOnly } = this.options.hello();
    this.sendOn(connection, 'hello', {
      instanceId: this.instanceId,
      // only until this agent is welcomed once: a reconnect must not take over from a newer agent
      takeover: this.options.takeover && !this.everWelcomed,
      protocolVersion: ENDPOINT_PROTOCOL_VERSION,
      // pongs stand for heartbeats if the server agrees (welcome.pongHeartbeats): fewer frames when idle
      pongHeartbeats: true,
      ...(ownerOnly ? { ownerOnly: true } : {}),
      agent: {
        name: this.options.name,
        version: AGENT_VERSION,
        hostname: hostname().slice(0, 256),
        pid: process.pid,
        platform: `${process.platform}-${process.arch}`,
        provider,
        workers,
      },
      inFlight,
    });
  }

  /** A frame from the server, or undefined (logged, or the session refused) when it cannot be read. */
  private parse(connection: Connection, text: string): ServerFrame | undefined {
    try {
      return parseFrame(ServerToEndpointSchemas, text);
    } catch (error) {
      if (error instanceof FrameError && error.code === 'UNSUPPORTED_PROTOCOL_VERSION') {
        this.refusal ??= new AgentRefusedError(error.code, `the server speaks another protocol version: ${error.message}`, { cause: error });
        connection.ws.close(ENDPOINT_CLOSE.protocolError, 'unsupported protocol version');
      } else {
        this.options.log.warn(`ignoring a frame from the server: ${error instanceof Error ? error.message : String(error)}`);
      }
      return undefined;
    }
  }

  /** Hands a frame other than `welcome` on. */
  private dispatch(connection: Connection, frame: ServerFrame): void {
    switch (frame.type) {
      case 'error':
        this.onErrorFrame(connection, frame.payload);
        break;
      case 'tasks':
        if (connection.welcome) this.emit('tasks', frame.payload);
        break;
      case 'ack':
        this.emit('ack', frame.payload.taskIds, frame.payload.copies ?? []);
        break;
      case 'cancel':
        this.emit('cancel', frame.payload.taskIds, frame.payload.copy);
        break;
    }
  }

  private onWelcome(connection: Connection, welcome: WelcomePayload): void {
    connection.welcome = welcome;
    this.everWelcomed = true;
    this.state = 'connected';
    this.welcomedAt = new Date().toISOString();
    this.options.log.info(`connected to ${this.options.url} as endpoint ${welcome.endpointName} (${welcome.endpointId})`);
    this.emit('welcome', welcome);
  }

  /**
   * Heartbeats at the interval the server asked for (only the changed ones, when the server takes pongs
   * for heartbeats: HeartbeatPacer); a server silent past its timeout is dropped.
   */
  private beat(connection: Connection, welcome: WelcomePayload): NodeJS.Timeout {
    const pacer = new HeartbeatPacer(welcome.pongHeartbeats === true, welcome.heartbeatIntervalMs, welcome.heartbeatTimeoutMs, idleCadence(welcome));
    return setInterval(() => {
      const silentMs = Date.now() - connection.lastHeardAt;
      // the status first: whether this agent holds a task decides which silence is too long
      const payload = this.options.heartbeat();
      const send = pacer.sendHeartbeat(payload);
      if (pacer.timedOut(silentMs)) {
        this.options.log.warn(`nothing heard from the server for ${pacer.cadence.timeoutMs} ms; reconnecting`);
        connection.ws.terminate();
        return;
      }
      if (send) this.sendOn(connection, 'heartbeat', payload);
      try {
        if (pacer.sendPing(silentMs)) connection.ws.ping();
      } catch {
        // the socket is closing; 'close' follows
      }
      this.emit('beat');
    }, welcome.heartbeatIntervalMs);
  }

  private onErrorFrame(connection: Connection, error: ErrorBody): void {
    const message = `the server says: ${error.message} (${error.code})`;
    if (FATAL_ERROR_CODES.has(error.code)) {
      this.refusal ??= new AgentRefusedError(error.code, message);
      connection.ws.close(ENDPOINT_CLOSE.normal, 'refused');
      return;
    }
    this.problem(message);
  }

  private problem(message: string): void {
    this.options.log.warn(message);
    this.emit('problem', message);
  }

  private sendOn<K extends keyof EndpointToServer & string>(connection: Connection, type: K, payload: EndpointToServer[K]): boolean {
    if (connection.ws.readyState !== WebSocket.OPEN) return false;
    connection.ws.send(encodeFrame<EndpointToServer, K>(type, payload));
    return true;
  }
}

/** The server's idle cadence, when it has one (older servers: none, the normal thresholds always apply). */
function idleCadence(welcome: WelcomePayload): Cadence | undefined {
  const { idleHeartbeatIntervalMs: intervalMs, idleHeartbeatTimeoutMs: timeoutMs } = welcome;
  return intervalMs !== undefined && timeoutMs !== undefined ? { intervalMs, timeoutMs } : undefined;
}

/** `http(s)://host[/prefix]` → `ws(s)://host[/prefix]/v1/ws/endpoint`. */
export function endpointSocketUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError(`the server URL must be http(s), got ${url}`);
  parsed.protocol = parsed.protocol === 'https:' ? 'wss:' : 'ws:';
  parsed.pathname = `${parsed.pathname.replace(/\/+$/, '')}/v1/ws/endpoint`;
  parsed.search = '';
  parsed.hash = '';
  return parsed.toString();
}

function describeErrorBody(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { code?: unknown; message?: unknown };
    if (typeof parsed.message === 'string') return `${parsed.message}${typeof parsed.code === 'string' ? ` (${parsed.code})` : ''}`;
  } catch {
    // not JSON
  }
  return body.trim() === '' ? undefined : body.trim().slice(0, 300);
}
