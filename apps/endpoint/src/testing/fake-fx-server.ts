import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  ENDPOINT_CLOSE,
  EndpointToServerSchemas,
  FrameError,
  FunctionSpecCache,
  encodeFrame,
  ENDPOINT_PROTOCOL_VERSION,
  functionsOf,
  parseFrame,
  type EndpointToServer,
  type ErrorBody,
  type Frame,
  type ServerToEndpoint,
  type TaskResult,
  type TaskSpec,
  type WelcomePayload,
} from '@fx/protocol';
import { FakeObjectStore } from './fake-object-store.js';

export interface FakeFxServerOptions {
  /** The endpoint token the socket must carry. */
  endpointToken?: string;
  /** The user token REST calls must carry. */
  userToken?: string;
  endpointId?: string;
  endpointName?: string;
  /** Overrides for `welcome`. */
  welcome?: Partial<Omit<WelcomePayload, 'endpointId' | 'endpointName' | 'forget'>>;
  /** Ack every `results` frame at once. @default true */
  autoAck?: boolean;
  /** Reply to `hello` with this error frame (and close) instead of `welcome`. */
  refuseHello?: ErrorBody;
  /** Answer websocket pings (turn off to play a dead server). @default true */
  autoPong?: boolean;
}

type AgentFrame = Frame<typeof EndpointToServerSchemas>;

/** One websocket connection as the fake server saw it. */
export interface FakeConnection {
  socket: WebSocket;
  frames: AgentFrame[];
  hello?: EndpointToServer['hello'];
  /** Credits granted on this connection minus tasks sent on it. */
  available: number;
  granted: number;
  sent: number;
  /** The functions sent on this connection, by the rule the real server follows. */
  functions: FunctionSpecCache;
}

/**
 * A stand-in for the FX server that speaks the endpoint protocol as libs/protocol defines it: token
 * check, `hello` → `welcome` (with `forget` for ids it already has final results for), credits as
 * cumulative grants that the server decrements as it sends `tasks`, `results` → `ack`, `cancel`.
 * Also the two REST calls the CLI makes (register and delete an endpoint), and the object routes an
 * agent uses (FakeObjectStore).
 */
export class FakeFxServer {
  readonly endpointToken: string;
  readonly userToken: string;
  readonly endpointId: string;
  readonly endpointName: string;
  readonly connections: FakeConnection[] = [];
  /** First result per task id (what the real server would record). */
  readonly results = new Map<string, TaskResult>();
  /** Every result frame's results, duplicates included. */
  readonly allResults: TaskResult[] = [];
  /** Tasks waiting to be sent as credits allow. */
  readonly queue: TaskSpec[] = [];
  /** Credit rule violations (tasks sent beyond grants never happen here; held > capacity is checked by tests). */
  readonly protocolErrors: string[] = [];
  /** Tasks sent on all connections. */
  totalSent = 0;
  /**
   * The most the agent ever committed to: tasks it held (sent, no result yet) plus unused credits, as
   * seen right after each `credits` frame. Never above its capacity + prefetch if it counts right.
   */
  maxCommitted = 0;
  readonly restCalls: { method: string; path: string; auth?: string; body?: unknown }[] = [];
  /** `/v1/objects` for the endpoint token (content, resumable uploads). */
  readonly objects = new FakeObjectStore(() => this.endpointToken);
  autoAck: boolean;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly options: FakeFxServerOptions = {}) {
    this.endpointToken = options.endpointToken ?? 'endpoint-token';
    this.userToken = options.userToken ?? 'user-token';
    this.endpointId = options.endpointId ?? randomUUID();
    this.endpointName = options.endpointName ?? 'test-endpoint';
    this.autoAck = options.autoAck ?? true;
    this.http = createServer((req, res) => void this.onRest(req, res));
    this.wss = new WebSocketServer({ noServer: true, autoPong: options.autoPong ?? true });
    this.http.on('upgrade', (req, socket, head) => {
      if (req.url !== '/v1/ws/endpoint') {
        socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, req));
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.http.listen(0, '127.0.0.1', resolve));
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  get current(): FakeConnection | undefined {
    const last = this.connections[this.connections.length - 1];
    return last && last.socket.readyState === last.socket.OPEN ? last : undefined;
  }

  /** Queues tasks and sends what credits allow. */
  enqueue(...tasks: TaskSpec[]): void {
    this.queue.push(...tasks);
    this.dispatch();
  }

  send<K extends keyof ServerToEndpoint & string>(type: K, payload: ServerToEndpoint[K], connection = this.current): void {
    connection?.socket.send(encodeFrame<ServerToEndpoint, K>(type, payload));
  }

  /** Frames of one type received on every connection, in order. */
  framesOf<K extends keyof EndpointToServer & string>(type: K): EndpointToServer[K][] {
    return this.connections.flatMap((c) => c.frames.filter((f) => f.type === type).map((f) => f.payload as EndpointToServer[K]));
  }

  /** Resolves once `predicate` holds (checked after every frame), or rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /** Drops the current connection without a close handshake (a network cut). */
  cut(): void {
    this.current?.socket.terminate();
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private notify(): void {
    for (const check of [...this.waiters]) check();
  }

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const connection: FakeConnection = { socket: ws, frames: [], available: 0, granted: 0, sent: 0, functions: new FunctionSpecCache() };
    this.connections.push(connection);
    const authorized = req.headers.authorization === `Bearer ${this.endpointToken}`;
    ws.on('message', (data) => {
      let frame: AgentFrame;
      try {
        frame = parseFrame(EndpointToServerSchemas, data.toString());
      } catch (error) {
        const body: ErrorBody = { code: error instanceof FrameError ? error.code : 'BAD_FRAME', message: String((error as Error).message) };
        this.protocolErrors.push(body.message);
        this.send('error', body, connection);
        return;
      }
      connection.frames.push(frame);
      this.onFrame(connection, frame, authorized);
      this.notify();
    });
    ws.on('close', () => this.notify());
    this.notify();
  }

  private onFrame(connection: FakeConnection, frame: AgentFrame, authorized: boolean): void {
    if (!connection.hello && frame.type !== 'hello') {
      this.protocolErrors.push(`"${frame.type}" before hello`);
      return;
    }
    switch (frame.type) {
      case 'hello': {
        if (!authorized) {
          this.send('error', { code: 'UNAUTHENTICATED', message: 'the endpoint token is not valid' }, connection);
          connection.socket.close(ENDPOINT_CLOSE.unauthorized, 'unauthenticated');
          return;
        }
        if (this.options.refuseHello) {
          this.send('error', this.options.refuseHello, connection);
          // 4000 is none of FX's codes (ENDPOINT_CLOSE): the agent acts on the error frame sent before it.
          connection.socket.close(4000, 'refused');
          return;
        }
        if (frame.payload.protocolVersion !== ENDPOINT_PROTOCOL_VERSION) {
          this.send(
            'error',
            {
              code: 'UNSUPPORTED_PROTOCOL_VERSION',
              message: `this server speaks protocol version ${ENDPOINT_PROTOCOL_VERSION}, the agent ${frame.payload.protocolVersion}`,
            },
            connection,
          );
          connection.socket.close(ENDPOINT_CLOSE.badRequest, 'unsupported protocol version');
          return;
        }
        connection.hello = frame.payload;
        this.send(
          'welcome',
          {
            endpointId: this.endpointId,
            endpointName: this.endpointName,
            heartbeatIntervalMs: 1000,
            heartbeatTimeoutMs: 10_000,
            maxTasksPerFrame: 500,
            maxResultBytes: 10 * 1024 * 1024,
            inlineResultBytes: 1024 * 1024,
            allowedFunctions: null,
            ...this.options.welcome,
            forget: frame.payload.inFlight.filter((id) => this.results.has(id)),
          },
          connection,
        );
        return;
      }
      case 'credits':
        connection.granted += frame.payload.credits;
        connection.available += frame.payload.credits;
        this.maxCommitted = Math.max(this.maxCommitted, this.totalSent - this.results.size + connection.available);
        this.dispatch();
        return;
      case 'results':
        for (const result of frame.payload.results) {
          this.allResults.push(result);
          if (!this.results.has(result.taskId)) this.results.set(result.taskId, result);
        }
        if (this.autoAck) this.send('ack', { taskIds: frame.payload.results.map((r) => r.taskId) }, connection);
        return;
      default:
        return;
    }
  }

  private dispatch(): void {
    const connection = this.current;
    if (!connection?.hello) return;
    while (this.queue.length > 0 && connection.available > 0) {
      const batch = this.queue.splice(0, Math.min(connection.available, this.options.welcome?.maxTasksPerFrame ?? 500));
      connection.available -= batch.length;
      connection.sent += batch.length;
      this.totalSent += batch.length;
      this.send('tasks', tasksFrame(batch, connection.functions), connection);
    }
  }

  private async onRest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (await this.objects.handle(req, res)) return;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body: unknown = text ? JSON.parse(text) : undefined;
    this.restCalls.push({ method: req.method ?? '', path: req.url ?? '', auth: req.headers.authorization, body });
    const reply = (status: number, payload: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };
    if (req.headers.authorization !== `Bearer ${this.userToken}`) {
      reply(401, { code: 'UNAUTHENTICATED', message: 'the token is missing, expired or revoked' });
      return;
    }
    if (req.method === 'POST' && req.url === '/v1/endpoints') {
      const name = (body as { name?: string } | undefined)?.name ?? '';
      if (name === 'taken') {
        reply(409, { code: 'CONFLICT', message: `you already have an endpoint named "${name}"` });
        return;
      }
      const now = new Date().toISOString();
      reply(201, {
        endpoint: {
          id: this.endpointId,
          name,
          description: null,
          ownerId: randomUUID(),
          state: 'offline',
          allowedFunctions: null,
          lastHeartbeatAt: null,
          connectedAt: null,
          agent: null,
          status: null,
          createdAt: now,
        },
        token: this.endpointToken,
      });
      return;
    }
    if (req.method === 'DELETE' && req.url === `/v1/endpoints/${this.endpointId}`) {
      res.writeHead(204).end();
      return;
    }
    reply(404, { code: 'NOT_FOUND', message: 'no such endpoint' });
  }
}

/** A `tasks` frame as the server builds it: tasks name their function, whose spec goes once per connection. */
export function tasksFrame(batch: TaskSpec[], sent: FunctionSpecCache): ServerToEndpoint['tasks'] {
  const specs = new Map(batch.map((t) => [t.function.id, t.function]));
  const functions = [...specs.values()].filter((f) => !sent.has(f.id));
  const tasks = batch.map(({ function: fn, ...rest }) => ({ ...rest, functionId: fn.id }));
  for (const id of functionsOf(tasks)) sent.use(specs.get(id)!);
  return { functions, tasks };
}
