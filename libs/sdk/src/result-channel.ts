import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import {
  CLIENT_CLOSE,
  DEFAULT_LIMITS,
  ServerToClientSchemas,
  backoffDelay,
  encodeFrame,
  parseFrame,
  type ClientToServer,
  type ErrorBody,
  type SubmittedPayload,
  type TaskOutcome,
} from '@fx/protocol';
import WebSocket from 'ws';
import { ConnectionError, FxError, NotFoundError, errorFromBody, errorFromResponse } from './errors.js';
import { isFatalUpgradeStatus, readUpgradeRejection, salvageResults, type UpgradeRejection } from './result-frames.js';
import { LiveWatches, type LiveListener, type LiveWants } from './live-watches.js';
import { PendingSubmits, type SubmitOptions } from './socket-submit.js';
import { KnownOutcomes } from './known-outcomes.js';
import { startHeartbeat, waitForOutcome, type WaitOptions } from './wait-for.js';

/** Receives outcomes for the task ids it watches. */
export interface ResultSink {
  /**
   * The final outcome of one watched id. Called at most once per id, after the channel has dropped
   * that registration, so a duplicate push can never reach a sink twice.
   */
  outcome(outcome: TaskOutcome): void;
  /** The id will produce no outcome on this channel (unknown to the server, refused, client closed). */
  fail(error: FxError, taskId: string): void;
}

export interface ResultChannelOptions {
  /** `ws://` or `wss://` url of the client channel. */
  url: string;
  token: string;
  reconnectBaseDelayMs: number;
  reconnectMaxDelayMs: number;
  /** How long an upgrade may take before the attempt counts as failed. */
  connectTimeoutMs: number;
  /** A ping goes out this often; a socket that missed the previous pong is presumed dead. */
  heartbeatIntervalMs: number;
  /** Most final outcomes kept after delivery, oldest evicted first; 0 disables the cache. */
  resultCacheSize: number;
}

type State = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

/**
 * The one websocket a Client shares among all result waits. It opens on the first wait, subscribes
 * every id someone awaits, and after any disconnect reconnects (backoff with jitter) and subscribes
 * again to everything still awaited; the server answers a subscription with outcomes that are
 * already final, so a result that finished while the socket was down still arrives.
 */
export class ResultChannel {
  /** Who awaits each task id. A key exists exactly while someone awaits an outcome for it. */
  private readonly waiters = new Map<string, Set<ResultSink>>();
  /** Final outcomes already seen, and those submissions' answers carried (known-outcomes.ts). */
  private readonly known: KnownOutcomes;
  /** Interest gained / lost since the last flush, for the socket that is open now. */
  private readonly toSubscribe = new Set<string>();
  private readonly toUnsubscribe = new Set<string>();
  /** Subscribe frames not yet answered, by frame id: what to fail if the server refuses one. */
  private readonly unanswered = new Map<string, string[]>();
  private flushQueued = false;
  private state: State = 'idle';
  private ws: WebSocket | undefined;
  private attempt = 0;
  private frameSeq = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private rejection: UpgradeRejection | undefined;
  /** The open socket's TCP connection: it keeps the process alive only while something needs it. */
  private tcp: Socket | undefined;
  /** Submissions in flight (socket-submit.ts), and the ids their frames asked the server to watch. */
  private readonly submits = new PendingSubmits();
  /** Live progress and logs of running tasks, on the same socket (live-watches.ts). */
  private readonly live = new LiveWatches();
  private readonly sendLive = <K extends 'watch' | 'unwatch'>(type: K, payload: ClientToServer[K], id: string) => {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(encodeFrame<ClientToServer, K>(type, payload, id));
  };

  constructor(private readonly options: ResultChannelOptions) {
    this.known = new KnownOutcomes(options.resultCacheSize);
  }

  /**
   * Watches ids for their final outcome. Outcomes already cached are delivered before this returns.
   * Returns a function that stops watching whatever has not been delivered yet.
   */
  watch(taskIds: Iterable<string>, sink: ResultSink): () => void {
    if (this.state === 'closed') throw new ConnectionError('CLIENT_CLOSED', 'the client was closed');
    const ids = [...taskIds];
    const cached: TaskOutcome[] = [];
    for (const id of ids) {
      const hit = this.known.get(id);
      if (hit) {
        cached.push(hit);
        continue;
      }
      let sinks = this.waiters.get(id);
      if (!sinks) {
        sinks = new Set();
        this.waiters.set(id, sinks);
        // Still subscribed on the server if only this tick asked to drop it (or its submit frame asked).
        if (!this.toUnsubscribe.delete(id) && !this.submits.watched.has(id)) this.toSubscribe.add(id);
      }
      sinks.add(sink);
    }
    for (const o of cached) sink.outcome(o);
    this.queueFlush();
    return () => {
      for (const id of ids) {
        const sinks = this.waiters.get(id);
        if (!sinks?.delete(sink) || sinks.size > 0) continue;
        this.waiters.delete(id);
        this.submits.watched.delete(id);
        if (!this.toSubscribe.delete(id) && this.state === 'open') this.toUnsubscribe.add(id);
      }
      this.queueFlush();
    };
  }

  /**
   * Watches one task's live progress and/or logs until it is final (`listener.ended`); kept values and
   * stored logs come first. Returns a function that stops watching.
   */
  watchLive(taskId: string, listener: LiveListener, wants: LiveWants): () => void {
    if (this.state === 'closed') throw new ConnectionError('CLIENT_CLOSED', 'the client was closed');
    const stop = this.live.add(taskId, listener, wants, this.state === 'open' ? this.sendLive : undefined);
    if (this.state === 'idle') this.connect();
    this.holdOpen();
    return stop;
  }

  /**
   * Submits a REST body (`task`: POST /v1/tasks, `batch`: /v1/tasks/batch) as a submit frame when the socket is open or
   * opens; undefined when REST should carry it. `watch` subscribes the new ids in the same round trip (with a cache only).
   */
  async submit(kind: 'task' | 'batch', body: string, watch: boolean, options: SubmitOptions): Promise<SubmittedPayload | undefined> {
    if (this.submits.unsupported || this.state === 'closed' || this.state === 'backoff') return undefined;
    if (this.state === 'idle') this.connect();
    if (this.state === 'connecting' && !(await this.submits.opening())) return undefined;
    const ws = this.ws;
    if (this.state !== 'open' || ws?.readyState !== WebSocket.OPEN) return undefined;
    this.holdOpen(1);
    try {
      return await this.submits.send(ws, kind, body, watch && this.options.resultCacheSize > 0, options, (id) => this.known.has(id));
    } finally {
      this.holdOpen();
    }
  }

  /** Outcomes a submission's answer carried (its cache hits): for whoever waits, or the first wait. */
  accept(outcomes: readonly TaskOutcome[]): void {
    for (const o of outcomes)
      if (this.waiters.has(o.taskId)) this.deliver(o);
      else this.known.keep(o);
  }

  /** Lets the socket keep the process alive only while something waits on it (as it did before submissions used it). */
  private holdOpen(extra = 0): void {
    if (this.wanted || this.submits.size + extra > 0) this.tcp?.ref();
    else this.tcp?.unref();
  }

  /** Whether anything needs the socket: result waits or live watches. */
  private get wanted(): boolean {
    return this.waiters.size > 0 || this.live.size > 0;
  }

  /** Resolves with one task's final outcome. */
  waitFor(taskId: string, options: WaitOptions = {}): Promise<TaskOutcome> {
    return waitForOutcome((ids, sink) => this.watch(ids, sink), taskId, options);
  }

  /** Fails every wait with CLIENT_CLOSED and closes the socket for good. */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.reconnectTimer);
    this.stopHeartbeat();
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      ws.close(CLIENT_CLOSE.normal, 'client closed');
      // A peer that never answers the close handshake must not hold the process open.
      setTimeout(() => ws.terminate(), 1000).unref();
    }
    this.failAll(new ConnectionError('CLIENT_CLOSED', 'the client was closed before the result arrived'));
    this.submits.failAll(new ConnectionError('CLIENT_CLOSED', 'the client was closed before the server answered the submission'));
    this.known.clear();
  }

  // ---- connection ------------------------------------------------------------------------------

  private connect(): void {
    this.state = 'connecting';
    this.rejection = undefined;
    const ws = new WebSocket(this.options.url, {
      headers: { authorization: `Bearer ${this.options.token}` },
      handshakeTimeout: this.options.connectTimeoutMs,
      maxPayload: DEFAULT_LIMITS.maxFrameBytes,
    });
    this.ws = ws;
    ws.on('upgrade', (res) => {
      this.tcp = res.socket as Socket;
    });
    ws.on('open', () => this.onOpen(ws));
    ws.on('message', (data: WebSocket.RawData) => this.onMessage(ws, data));
    ws.on('unexpected-response', (_req, res) => this.onUpgradeRefused(ws, res));
    // Every failure is followed by 'close', where it is handled; without a listener ws would throw.
    ws.on('error', () => undefined);
    ws.on('close', () => this.onClose(ws));
  }

  private onOpen(ws: WebSocket): void {
    if (ws !== this.ws || this.state === 'closed') return;
    this.state = 'open';
    this.toSubscribe.clear();
    this.toUnsubscribe.clear();
    this.send(ws, 'subscribe', [...this.waiters.keys()]);
    this.live.opened(this.sendLive);
    this.heartbeatTimer = startHeartbeat(ws, this.options.heartbeatIntervalMs);
    this.holdOpen();
    this.submits.opened(true);
  }

  /** The server refused the upgrade: keep its status and error body, then let 'close' decide. */
  private onUpgradeRefused(ws: WebSocket, res: IncomingMessage): void {
    readUpgradeRejection(res, (rejection) => {
      this.rejection = rejection;
      ws.terminate();
    });
  }

  private onClose(ws: WebSocket): void {
    if (ws !== this.ws) return;
    this.ws = undefined;
    this.tcp = undefined;
    this.stopHeartbeat();
    this.unanswered.clear();
    this.toUnsubscribe.clear();
    this.submits.closed();
    if (this.state === 'closed') return;

    const rejection = this.rejection;
    this.rejection = undefined;
    if (rejection && isFatalUpgradeStatus(rejection.status)) {
      // Retrying cannot help (bad token, wrong url); every waiter learns why now.
      this.state = 'idle';
      this.attempt = 0;
      this.failAll(
        errorFromResponse(rejection.status, rejection.body, {
          fallbackMessage: `the result socket ${this.options.url} was refused with HTTP ${rejection.status}`,
        }),
      );
      return;
    }
    if (!this.wanted) {
      this.state = 'idle';
      return;
    }
    this.state = 'backoff';
    const delay = Math.max(
      backoffDelay(this.attempt++, { initialDelayMs: this.options.reconnectBaseDelayMs, maxDelayMs: this.options.reconnectMaxDelayMs, jitter: 'equal' }),
      Math.min(rejection?.retryAfterMs ?? 0, this.options.reconnectMaxDelayMs),
    );
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.state !== 'backoff') return;
      if (!this.wanted) this.state = 'idle';
      else this.connect();
    }, delay);
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  // ---- frames ----------------------------------------------------------------------------------

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    // One microtask: every wait started in the same synchronous run shares one subscribe frame.
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.state === 'open' && this.ws) {
      if (this.toSubscribe.size > 0) this.send(this.ws, 'subscribe', [...this.toSubscribe]);
      if (this.toUnsubscribe.size > 0) this.send(this.ws, 'unsubscribe', [...this.toUnsubscribe]);
      this.toSubscribe.clear();
      this.toUnsubscribe.clear();
    } else if (this.state === 'idle' && this.wanted) {
      this.connect();
    }
    this.holdOpen();
  }

  private send(ws: WebSocket, type: 'subscribe' | 'unsubscribe', taskIds: string[]): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    const max = DEFAULT_LIMITS.maxIdsPerRequest;
    for (let i = 0; i < taskIds.length; i += max) {
      const chunk = taskIds.slice(i, i + max);
      const id = `${type === 'subscribe' ? 's' : 'u'}${++this.frameSeq}`;
      if (type === 'subscribe') this.unanswered.set(id, chunk);
      ws.send(encodeFrame<ClientToServer, typeof type>(type, { taskIds: chunk }, id));
    }
  }

  private onMessage(ws: WebSocket, data: WebSocket.RawData): void {
    if (ws !== this.ws) return;
    (ws as WebSocket & { fxAlive?: boolean }).fxAlive = true;
    const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    let frame;
    try {
      frame = parseFrame(ServerToClientSchemas, raw);
    } catch (err) {
      for (const item of salvageResults(raw, err))
        if ('outcome' in item) this.deliver(item.outcome);
        else this.failId(item.taskId, item.error);
      return;
    }
    this.attempt = 0;
    switch (frame.type) {
      case 'result':
        for (const outcome of frame.payload.results) this.deliver(outcome);
        return;
      case 'submitted':
        this.submits.answered(frame.id, frame.payload);
        return;
      case 'subscribed': {
        if (frame.id !== undefined) this.unanswered.delete(frame.id);
        for (const id of frame.payload.notFound) {
          this.failId(id, new NotFoundError('NOT_FOUND', `task ${id} does not exist or is not yours`));
        }
        return;
      }
      case 'error':
        this.onErrorFrame(ws, frame.id, frame.payload);
        return;
      default:
        this.live.onFrame(frame.type, frame.payload, frame.id);
    }
  }

  private onErrorFrame(ws: WebSocket, frameId: string | undefined, body: ErrorBody): void {
    if (this.submits.refused(frameId, body)) return;
    const error = errorFromBody(body);
    const ids = frameId === undefined ? undefined : this.unanswered.get(frameId);
    if (frameId !== undefined) this.unanswered.delete(frameId);
    if (body.code === 'UNAUTHENTICATED' || body.code === 'FORBIDDEN') {
      this.failAll(error);
      ws.close(CLIENT_CLOSE.normal);
      return;
    }
    if (body.code === 'RATE_LIMITED' || body.code === 'UNAVAILABLE' || body.code === 'INTERNAL') {
      // Transient: a fresh connection re-subscribes everything after a backoff.
      ws.terminate();
      return;
    }
    if (frameId !== undefined && this.live.refused(frameId, error)) return;
    if (ids) for (const id of ids) this.failId(id, error);
  }

  private deliver(outcome: TaskOutcome): void {
    const id = this.known.remember(outcome).taskId;
    this.submits.watched.delete(id);
    const sinks = this.waiters.get(id);
    if (!sinks) return;
    this.waiters.delete(id);
    this.toSubscribe.delete(id);
    for (const sink of sinks) sink.outcome(outcome);
    this.holdOpen();
  }

  private failId(id: string, error: FxError): void {
    const sinks = this.waiters.get(id);
    if (!sinks) return;
    this.waiters.delete(id);
    this.toSubscribe.delete(id);
    for (const sink of sinks) sink.fail(error, id);
  }

  private failAll(error: FxError): void {
    const all = [...this.waiters];
    this.waiters.clear();
    this.toSubscribe.clear();
    for (const [id, sinks] of all) for (const sink of sinks) sink.fail(error, id);
    this.live.failAll(error);
  }
}
