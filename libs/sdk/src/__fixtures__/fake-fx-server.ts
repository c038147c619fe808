import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  ClientToServerSchemas,
  DEFAULT_LIMITS,
  RegisterFunctionRequest,
  SubmitBatchRequest,
  SubmitTaskRequest,
  encodeFrame,
  parseFrame,
  type ErrorBody,
  type FunctionInfo,
  type ServerToClient,
  type TaskOutcome,
} from '@fx/protocol';
import { WebSocketServer, type WebSocket } from 'ws';

export const GOOD_TOKEN = 'good-token';
export const OWNER_ID = '00000000-0000-4000-8000-000000000001';

export interface RecordedRequest {
  method: string;
  path: string;
  /** The query's parameters. */
  query: URLSearchParams;
  body: unknown;
}

export interface FakeTask {
  id: string;
  functionId: string;
  endpointId: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  outcome: TaskOutcome | undefined;
  batchId?: string | null;
}

/** A reply that replaces the normal route. */
export interface Override {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/**
 * A small stand-in for the FX server that follows the REST and client-channel contract: bearer auth,
 * function and task routes, and the client websocket (subscribe → subscribed, then already-final
 * results, then pushes). Tests steer it through its fields and methods.
 */
export class FakeFxServer {
  readonly requests: RecordedRequest[] = [];
  /** Every subscribe frame's task ids, in arrival order (across connections). */
  readonly subscribeFrames: string[][] = [];
  readonly unsubscribeFrames: string[][] = [];
  readonly functions = new Map<string, FunctionInfo>();
  readonly tasks = new Map<string, FakeTask>();
  /** Called for each REST request before routing; a returned Override is sent instead. */
  override: ((req: RecordedRequest) => Override | undefined) | undefined;
  /** When set, websocket upgrades are refused with this status and an ErrorBody. */
  refuseUpgrades: number | undefined;
  /** Decides how a submitted task ends; called once per task right after it is stored. */
  onTaskCreated: ((task: FakeTask) => void) | undefined;
  /** The query of every `GET /v1/tasks`. */
  readonly taskQueries: URLSearchParams[] = [];
  /** Upgrades accepted so far. */
  connections = 0;
  /** Upgrade requests so far, refused ones included. */
  upgradeAttempts = 0;
  /**
   * Whether submit frames are answered (as the server does since issue 18); when false they are refused
   * the way an older server refuses an unknown frame type: an `error` BAD_FRAME without the frame's id.
   */
  acceptSubmits = false;
  /** Stores the next submit frame's tasks, then cuts the socket before answering (once). */
  dropAfterNextSubmit = false;
  /** Answers the next submit frame with this error under its frame id (once), storing nothing. */
  refuseNextSubmit: ErrorBody | undefined;
  /** Every submit frame's payload, in arrival order. */
  readonly submitFrames: Array<{ task?: unknown; batch?: unknown; watch?: boolean }> = [];

  private readonly http: Server;
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly subscriptions = new Map<WebSocket, Set<string>>();
  private readonly sockets = new Set<Socket>();
  private readonly frameWaiters: Array<{ count: number; resolve: () => void }> = [];
  private readonly connectionWaiters: Array<{ count: number; resolve: () => void }> = [];
  private readonly attemptWaiters: Array<{ count: number; resolve: () => void }> = [];

  constructor() {
    this.http = createServer((req, res) => void this.handle(req, res));
    this.http.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket as Socket, head));
  }

  url = '';

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.http.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const ws of this.subscriptions.keys()) ws.terminate();
    for (const s of this.sockets) s.destroy();
    this.wss.close();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  /** Records a final outcome and pushes it to every socket subscribed to the task. */
  finish(taskId: string, outcome: Omit<TaskOutcome, 'taskId'>): void {
    const task = this.tasks.get(taskId);
    if (!task) throw new Error(`fake server has no task ${taskId}`);
    task.outcome = { taskId, ...outcome };
    this.push([task.outcome]);
  }

  /** Sends outcomes to subscribed sockets as one frame each (as a replica relaying the channel does). */
  push(outcomes: TaskOutcome[]): void {
    for (const [ws, ids] of this.subscriptions) {
      const mine = outcomes.filter((o) => ids.has(o.taskId));
      if (mine.length > 0) ws.send(encodeFrame<ServerToClient, 'result'>('result', { results: mine }));
    }
  }

  /** Sends any JSON to every client socket, bypassing the protocol (for malformed frames). */
  sendRaw(frame: unknown): void {
    for (const ws of this.subscriptions.keys()) ws.send(JSON.stringify(frame));
  }

  /** Adds a task directly, as if submitted earlier. */
  addTask(outcome?: Omit<TaskOutcome, 'taskId'>): string {
    const id = randomUUID();
    this.tasks.set(id, { id, functionId: randomUUID(), endpointId: randomUUID(), args: [], kwargs: {}, outcome: outcome && { taskId: id, ...outcome } });
    return id;
  }

  /** Cuts every client socket, as a restarting server or a broken network would. */
  dropClients(): void {
    for (const ws of this.subscriptions.keys()) ws.terminate();
  }

  /** Resolves once `count` subscribe frames have arrived in total. */
  waitForSubscribeFrames(count: number): Promise<void> {
    if (this.subscribeFrames.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.frameWaiters.push({ count, resolve }));
  }

  /** Resolves once `count` websocket connections have been accepted in total. */
  waitForConnections(count: number): Promise<void> {
    if (this.connections >= count) return Promise.resolve();
    return new Promise((resolve) => this.connectionWaiters.push({ count, resolve }));
  }

  /** Resolves once `count` upgrade requests have arrived in total. */
  waitForUpgradeAttempts(count: number): Promise<void> {
    if (this.upgradeAttempts >= count) return Promise.resolve();
    return new Promise((resolve) => this.attemptWaiters.push({ count, resolve }));
  }

  /** Live versions of a function name, newest first. */
  versionsOf(name: string): FunctionInfo[] {
    return [...this.functions.values()].filter((f) => f.name === name).sort((a, b) => b.version - a.version);
  }

  requestsTo(method: string, path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.path === path);
  }

  // ---- REST ------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const { pathname: path, searchParams: query } = new URL(req.url ?? '/', 'http://x');
    const recorded: RecordedRequest = { method: req.method ?? 'GET', path, query, body: text ? JSON.parse(text) : undefined };
    this.requests.push(recorded);

    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, body === undefined ? headers : { 'content-type': 'application/json', ...headers });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    const fail = (status: number, code: ErrorBody['code'], message: string) => send(status, { code, message } satisfies ErrorBody);

    const forced = this.override?.(recorded);
    if (forced) return send(forced.status, forced.body, forced.headers);
    if (req.headers.authorization !== `Bearer ${GOOD_TOKEN}`) return fail(401, 'UNAUTHENTICATED', 'bad token');

    const m = (method: string, pattern: RegExp) => (recorded.method === method ? pattern.exec(path) : null);
    let match: RegExpExecArray | null;

    if (m('POST', /^\/v1\/functions$/)) {
      const parsed = RegisterFunctionRequest.safeParse(recorded.body);
      if (!parsed.success) return fail(400, 'VALIDATION_FAILED', parsed.error.message);
      // Like the real server: the same registration returns the newest version; other content adds one.
      const newest = this.versionsOf(parsed.data.name)[0];
      if (newest && newest.runtime === parsed.data.runtime && newest.source === parsed.data.source) return send(200, newest);
      const info: FunctionInfo = {
        id: randomUUID(),
        name: parsed.data.name,
        version: (newest?.version ?? 0) + 1,
        runtime: parsed.data.runtime,
        source: parsed.data.source,
        entrypoint: parsed.data.entrypoint ?? null,
        failOnNonZeroExit: parsed.data.failOnNonZeroExit ?? false,
        progressPrefix: parsed.data.progressPrefix ?? null,
        description: parsed.data.description ?? null,
        walltimeSeconds: parsed.data.walltimeSeconds ?? null,
        public: parsed.data.public,
        retry: parsed.data.retry ?? null,
        cache: parsed.data.cache ?? null,
        idempotent: parsed.data.idempotent ?? false,
        contentHash: 'h',
        ownerId: OWNER_ID,
        createdAt: new Date().toISOString(),
      };
      this.functions.set(info.id, info);
      return send(201, info);
    }
    if (m('GET', /^\/v1\/functions$/)) {
      const name = new URL(req.url ?? '/', 'http://x').searchParams.get('name');
      return send(200, { items: name === null ? [...this.functions.values()] : this.versionsOf(name) });
    }
    if ((match = m('GET', /^\/v1\/functions\/([^/]+)$/))) {
      const [name, version] = decodeURIComponent(match[1]!).split('@');
      const f = this.functions.get(match[1]!) ?? this.versionsOf(name!).find((v) => version === undefined || v.version === Number(version));
      return f ? send(200, f) : fail(404, 'NOT_FOUND', 'no such function');
    }
    if (m('POST', /^\/v1\/tasks$/)) {
      const parsed = SubmitTaskRequest.safeParse(recorded.body);
      if (!parsed.success) return fail(400, 'VALIDATION_FAILED', parsed.error.message);
      const task = this.createTask(parsed.data.functionId, parsed.data.endpointId, parsed.data.args, parsed.data.kwargs);
      return send(201, { taskId: task.id });
    }
    if (m('POST', /^\/v1\/tasks\/batch$/)) {
      const parsed = SubmitBatchRequest.safeParse(recorded.body);
      if (!parsed.success) return fail(400, 'VALIDATION_FAILED', parsed.error.message);
      if (parsed.data.tasks.length > DEFAULT_LIMITS.maxBatchTasks) return fail(413, 'BATCH_TOO_LARGE', 'too many tasks');
      const batchId = randomUUID();
      const created = parsed.data.tasks.map((t) => this.createTask(t.functionId, t.endpointId ?? parsed.data.endpointId!, t.args, t.kwargs, false));
      for (const t of created) t.batchId = batchId;
      send(201, { batchId, taskIds: created.map((t) => t.id) });
      // Like the real server: reply first, then the tasks move on.
      for (const t of created) this.onTaskCreated?.(t);
      return;
    }
    if (m('GET', /^\/v1\/tasks$/)) {
      // Oldest-first insertion order reversed = newest first; the cursor is an offset (opaque to clients).
      const query = new URL(req.url ?? '/', 'http://x').searchParams;
      this.taskQueries.push(query);
      const statuses = query.get('status')?.split(',');
      const rows = [...this.tasks.values()]
        .reverse()
        .filter((t) => !query.has('batchId') || t.batchId === query.get('batchId'))
        .filter((t) => !statuses || statuses.includes(t.outcome?.status ?? 'received'));
      const offset = Number(query.get('cursor') ?? 0);
      const limit = Number(query.get('limit') ?? 100);
      const page = rows.slice(offset, offset + limit);
      return send(200, {
        items: page.map((t) => ({
          id: t.id,
          functionId: t.functionId,
          endpointId: t.endpointId,
          batchId: t.batchId ?? null,
          ownerId: OWNER_ID,
          status: t.outcome?.status ?? 'received',
          attempt: 0,
          receivedAt: new Date().toISOString(),
          completedAt: null,
          errorCode: t.outcome?.error?.code ?? null,
          errorMessage: t.outcome?.error?.message ?? null,
        })),
        nextCursor: offset + limit < rows.length ? String(offset + limit) : null,
      });
    }
    if ((match = m('GET', /^\/v1\/tasks\/([^/]+)$/))) {
      const t = this.tasks.get(match[1]!);
      if (!t) return fail(404, 'NOT_FOUND', 'no such task');
      return send(200, {
        id: t.id,
        functionId: t.functionId,
        endpointId: t.endpointId,
        batchId: null,
        ownerId: OWNER_ID,
        status: t.outcome?.status ?? 'received',
        attempt: 0,
        args: t.args,
        kwargs: t.kwargs,
        ...(t.outcome?.status === 'success' ? { result: t.outcome.result } : {}),
        error: t.outcome?.error ?? null,
        timeline: { receivedAt: new Date().toISOString(), waitingAt: null, dispatchedAt: null, runningAt: null, completedAt: null },
      });
    }
    if ((match = m('POST', /^\/v1\/tasks\/([^/]+)\/cancel$/))) {
      const t = this.tasks.get(match[1]!);
      if (!t) return fail(404, 'NOT_FOUND', 'no such task');
      if (t.outcome) return send(200, { taskId: t.id, status: t.outcome.status, cancelled: false });
      this.finish(t.id, { status: 'cancelled' });
      return send(200, { taskId: t.id, status: 'cancelled', cancelled: true });
    }
    return fail(404, 'NOT_FOUND', `no route ${recorded.method} ${path}`);
  }

  private createTask(functionId: string, endpointId: string, args: unknown[], kwargs: Record<string, unknown>, announce = true): FakeTask {
    const task: FakeTask = { id: randomUUID(), functionId, endpointId, args, kwargs, outcome: undefined };
    this.tasks.set(task.id, task);
    if (announce) setImmediate(() => this.onTaskCreated?.(task));
    return task;
  }

  // ---- client channel --------------------------------------------------------------------------

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    this.upgradeAttempts++;
    this.settle(this.attemptWaiters, this.upgradeAttempts);
    const reject = (status: number, body: ErrorBody) => {
      const text = JSON.stringify(body);
      socket.end(
        `HTTP/1.1 ${status} Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
      );
    };
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/v1/ws/client') return reject(404, { code: 'NOT_FOUND', message: 'no such channel' });
    if (this.refuseUpgrades !== undefined) {
      return reject(this.refuseUpgrades, { code: this.refuseUpgrades === 401 ? 'UNAUTHENTICATED' : 'UNAVAILABLE', message: 'refused by the test' });
    }
    if (req.headers.authorization !== `Bearer ${GOOD_TOKEN}`) return reject(401, { code: 'UNAUTHENTICATED', message: 'bad token' });
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onClient(ws));
  }

  private onClient(ws: WebSocket): void {
    const subscribed = new Set<string>();
    this.subscriptions.set(ws, subscribed);
    ws.on('close', () => this.subscriptions.delete(ws));
    this.connections++;
    this.settle(this.connectionWaiters, this.connections);
    ws.on('message', (data) => {
      const frame = parseFrame(ClientToServerSchemas, data as Buffer);
      if (frame.type === 'submit') return this.onSubmit(ws, subscribed, frame.payload, frame.id);
      if (frame.type === 'unsubscribe') {
        this.unsubscribeFrames.push(frame.payload.taskIds);
        for (const id of frame.payload.taskIds) subscribed.delete(id);
        return;
      }
      // Subscribe first, then read what is already final: nothing can slip between the two.
      const notFound: string[] = [];
      for (const id of frame.payload.taskIds) {
        if (this.tasks.has(id)) subscribed.add(id);
        else notFound.push(id);
      }
      ws.send(encodeFrame<ServerToClient, 'subscribed'>('subscribed', { notFound }, frame.id));
      const final = frame.payload.taskIds.flatMap((id) => this.tasks.get(id)?.outcome ?? []);
      for (let i = 0; i < final.length; i += 500) {
        ws.send(encodeFrame<ServerToClient, 'result'>('result', { results: final.slice(i, i + 500) }));
      }
      this.subscribeFrames.push(frame.payload.taskIds);
      this.settle(this.frameWaiters, this.subscribeFrames.length);
    });
  }

  private onSubmit(ws: WebSocket, subscribed: Set<string>, payload: { task?: unknown; batch?: unknown; watch?: boolean }, id?: string): void {
    this.submitFrames.push(payload);
    if (!this.acceptSubmits) {
      const message = 'unknown frame type "submit"; expected one of subscribe, unsubscribe, watch, unwatch';
      return void ws.send(encodeFrame<ServerToClient, 'error'>('error', { code: 'BAD_FRAME', message }));
    }
    if (this.refuseNextSubmit) {
      const body = this.refuseNextSubmit;
      this.refuseNextSubmit = undefined;
      return void ws.send(encodeFrame<ServerToClient, 'error'>('error', body, id));
    }
    const task = payload.task === undefined ? undefined : SubmitTaskRequest.parse(payload.task);
    const batch = payload.batch === undefined ? undefined : SubmitBatchRequest.parse(payload.batch);
    const created = task
      ? [this.createTask(task.functionId, task.endpointId, task.args, task.kwargs)]
      : batch!.tasks.map((t) => this.createTask(t.functionId, t.endpointId ?? batch!.endpointId!, t.args, t.kwargs));
    if (this.dropAfterNextSubmit) {
      this.dropAfterNextSubmit = false;
      return void ws.terminate();
    }
    if (payload.watch) for (const t of created) subscribed.add(t.id);
    const answer = task ? { task: { taskId: created[0]!.id } } : { batch: { batchId: randomUUID(), taskIds: created.map((t) => t.id) } };
    ws.send(encodeFrame<ServerToClient, 'submitted'>('submitted', answer, id));
    // like the server's catch-up read: what finished before the subscription is sent now
    const final = payload.watch ? created.flatMap((t) => this.tasks.get(t.id)?.outcome ?? []) : [];
    if (final.length) ws.send(encodeFrame<ServerToClient, 'result'>('result', { results: final }));
  }

  private settle(waiters: Array<{ count: number; resolve: () => void }>, reached: number): void {
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.count <= reached) waiters.splice(i, 1)[0]!.resolve();
    }
  }
}
