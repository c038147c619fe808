import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import WebSocket from 'ws';
import {
  DEFAULT_LIMITS,
  ENDPOINT_CLOSE,
  FrameError,
  FunctionSpecCache,
  ENDPOINT_PROTOCOL_VERSION,
  ServerToEndpointSchemas,
  backoffDelay,
  encodeFrame,
  functionsOf,
  parseFrame,
  type EndpointToServer,
  type ErrorBody,
  type HeartbeatPayload,
  type TaskResult,
  type TaskSpec,
  type TasksPayload,
  type WelcomePayload,
} from '@fx/protocol';
import { functionContentHash } from '@fx/protocol/node';
import { TaskLostError, type Provider } from '../providers/provider.js';
import { taskWalltimeSeconds, type TaskLimits } from '../config/task-limits.js';
import { TaskCancelledError, WalltimeExceededError, failure, toRemoteError, type ExecutionOutcome } from '../runtimes/task.errors.js';
import { AGENT_VERSION } from '../version.js';
import { AgentRefusedError, FATAL_ERROR_CODES } from './agent.errors.js';
import { AgentState, assertTransition, isFinalState } from './agent.state.js';
import { silentLogger, type Logger } from './logger.js';
import { ResultSpool } from './result.spool.js';
import { writeStatusFile, type AgentStatusSnapshot, type ConnectionState } from './status.file.js';

export interface EndpointAgentOptions {
  /** The server's http(s) URL; the socket goes to `ws(s)://…/v1/ws/endpoint` under it. */
  url: string;
  /** The endpoint token (not a user token). */
  token: string;
  /** The endpoint's name, for `hello` and the status file. */
  name: string;
  /** Shown in the status file. */
  endpointId?: string;
  provider: Provider;
  /** Where unacknowledged results wait (`$FX_HOME/endpoints/<name>/spool`). */
  spoolDir: string;
  /** When set, the agent keeps a status snapshot here (atomic rewrite on changes and heartbeats). */
  statusFile?: string;
  reconnect?: {
    /** @default 250 */
    initialDelayMs?: number;
    /** @default 10000 */
    maxDelayMs?: number;
  };
  /**
   * On stop, how long running tasks may take to finish before they are abandoned (their leases then
   * return them to the queue server-side).
   * @default 30
   */
  drainTimeoutSeconds?: number;
  /**
   * Tasks to hold beyond the free worker slots, so a worker that frees up has its next task at hand.
   * @default the provider's capacity, and at least 256
   */
  prefetch?: number;
  /** Walltime default and maximum of every task (config.yaml's taskLimits). @default DEFAULT_TASK_LIMITS */
  taskLimits?: TaskLimits;
  /**
   * How long `started` updates, results and credit grants may wait to be coalesced into one frame.
   * @default 5
   */
  flushIntervalMs?: number;
  /**
   * Most results in one `results` frame (and one spool file).
   * @default 500
   */
  maxResultsPerFrame?: number;
  /**
   * How long to wait for `welcome` after the socket opens.
   * @default 10000
   */
  handshakeTimeoutMs?: number;
  /**
   * Least time between two status-file rewrites.
   * @default 200
   */
  statusIntervalMs?: number;
  /** @default silent */
  logger?: Logger;
  /**
   * Replace an agent already serving this endpoint (it is told to stop). Without it, the server refuses
   * this agent while another one runs, and the agent ends FAILED with the server's sentence.
   * @default false
   */
  takeover?: boolean;
}

interface RunningTask {
  task: TaskSpec;
  controller: AbortController;
  startedAt: number;
  walltimeTimer?: NodeJS.Timeout;
}

interface Session {
  ws: WebSocket;
  welcome?: WelcomePayload;
  /** Credits granted on this connection and not yet used by the server. */
  outstandingCredits: number;
  /** `results` frames sent on this connection and not yet acknowledged. */
  resultFramesInFlight: number;
  lastHeardAt: number;
}

interface StopOptions {
  /** Skip the drain: abandon running tasks and close now (a second Ctrl-C). */
  force?: boolean;
}

/** Close codes of the endpoint channel that stop the agent: another agent serves the endpoint, or took it over. */
const ALREADY_SERVED = ENDPOINT_CLOSE.replaced;
const TAKEN_OVER = ENDPOINT_CLOSE.takenOver;

/** Most of a frame the agent fills with results, leaving room for the envelope. */
const MAX_RESULT_FRAME_BYTES = Math.floor(DEFAULT_LIMITS.maxFrameBytes / 2);
/**
 * Default prefetch floor: enough tasks at hand that short tasks never leave workers waiting on the
 * credit round trip (a few ms to the server and back).
 */
const MIN_DEFAULT_PREFETCH = 256;
/** Results frames sent ahead of their acks before further results wait for one (see scheduleFlush). */
const MAX_RESULT_FRAMES_IN_FLIGHT = 2;
/** After the running tasks end, how long to wait for acks at least (even when the drain time is spent). */
const MIN_ACK_WAIT_MS = 3000;

export interface EndpointAgentEvents {
  state: [state: AgentState];
  /** Anything that can change what a waiter is waiting for (tasks, spool, connection). */
  change: [];
}

/**
 * The endpoint agent: dials the server, grants credits for free worker slots, runs the tasks it is sent
 * on its provider, and reports results (spooled to disk first, removed on ack). The socket may come and
 * go; running tasks and their results survive it.
 */
export class EndpointAgent extends EventEmitter<EndpointAgentEvents> {
  private currentState: AgentState = AgentState.INITIALIZING;
  /** Random per agent process: tells the server a reconnect of this agent from a second agent on the same endpoint. */
  private readonly instanceId = randomUUID();
  private everWelcomed = false;
  private connectionState: ConnectionState = 'disconnected';
  private connectedAt?: string;
  private lastError?: string;

  private readonly spool: ResultSpool;
  private readonly log: Logger;
  private readonly wsUrl: string;
  private readonly prefetch: number;
  private readonly flushIntervalMs: number;
  private readonly maxResultsPerFrame: number;

  private readonly queue: TaskSpec[] = [];
  private readonly running = new Map<string, RunningTask>();
  /** Finished, not yet in the spool. */
  private completed: TaskResult[] = [];
  private startedBatch: { taskId: string; startedAt: number }[] = [];
  /** Tasks whose block ended under them: handed back to the server (requeued with attempt + 1). */
  private lostBatch: string[] = [];
  private maxResultBytes: number = DEFAULT_LIMITS.maxResultBytes;
  /** From `welcome`: the functions this endpoint may run, or null for any. */
  private allowedFunctions: ReadonlySet<string> | null = null;

  private session?: Session;
  private flushTimer?: NodeJS.Timeout | NodeJS.Immediate;
  /** Whether flushTimer is the fallback timeout (rather than an end-of-turn immediate). */
  private flushDelayed = false;
  private startedTimer?: NodeJS.Timeout;
  /** Ids in `queue`, for the duplicate check (a scan of the queue per task would be quadratic). */
  private readonly queuedIds = new Set<string>();
  /** Function specs sent on this connection (the server sends each source once; see resolveTasks). */
  private readonly functionSpecs = new FunctionSpecCache();
  /** runtime + content hash → a source verified against it (see verifiedSource). */
  private readonly verifiedSources = new Map<string, string>();
  private flushing = false;
  private flushAgain = false;
  private flushIdle: Promise<void> = Promise.resolve();
  private statusTimer?: NodeJS.Timeout;
  private statusWrite?: Promise<void>;
  private statusDirty = false;
  /** A batch taken from `completed` whose spool write is under way: still in flight as far as `hello` goes. */
  private spooling: TaskResult[] = [];
  private shuttingDown = false;

  private loopStopped = false;
  private loopDone: Promise<void> = Promise.resolve();
  private wakeSleeper?: () => void;
  private fatal?: AgentRefusedError;
  private stopPromise?: Promise<void>;
  private startPromise?: Promise<void>;
  private forceStop = false;
  private resolveDone!: (state: AgentState) => void;

  /** Resolves with STOPPED or FAILED once the agent has ended. */
  readonly done: Promise<AgentState>;

  constructor(private readonly options: EndpointAgentOptions) {
    super();
    this.log = options.logger ?? silentLogger;
    this.spool = new ResultSpool({ dir: options.spoolDir, log: (m) => this.log.warn(m) });
    this.wsUrl = endpointSocketUrl(options.url);
    this.prefetch = options.prefetch ?? Math.max(options.provider.capacity(), MIN_DEFAULT_PREFETCH);
    this.flushIntervalMs = options.flushIntervalMs ?? 5;
    this.maxResultsPerFrame = options.maxResultsPerFrame ?? 500;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  get state(): AgentState {
    return this.currentState;
  }

  get connection(): ConnectionState {
    return this.connectionState;
  }

  /** Loads the spool, starts the provider and begins connecting. Resolves once that is under way. */
  start(): Promise<void> {
    this.startPromise ??= this.initialize();
    return this.startPromise;
  }

  /**
   * Drains and stops: no new credits, queued tasks are given up (the server re-leases them once this
   * agent is gone), running ones finish within `drainTimeoutSeconds`, results are flushed and acked.
   */
  stop(options: StopOptions = {}): Promise<void> {
    if (options.force) {
      this.forceStop = true;
      this.emit('change');
    }
    if (isFinalState(this.currentState)) return this.done.then(() => undefined);
    this.stopPromise ??= this.drain().then(async () => void (await this.done));
    return this.stopPromise;
  }

  /** The snapshot the status file and `heartbeat` are built from. */
  snapshot(): AgentStatusSnapshot {
    const provider = this.options.provider.status();
    return {
      name: this.options.name,
      endpointId: this.options.endpointId,
      pid: process.pid,
      state: this.currentState,
      connection: this.connectionState,
      connectedAt: this.connectedAt,
      updatedAt: new Date().toISOString(),
      workers: provider.workers,
      tasks: { queued: this.queue.length, running: this.running.size },
      spooled: this.spool.size + this.completed.length,
      lastError: this.lastError,
      processes: { pids: provider.pids, processGroups: provider.processGroups },
      ...(provider.blocks ? { blocks: provider.blocks } : {}),
      ...(provider.devices ? { devices: provider.devices } : {}),
      ...(provider.acceleratorNote ? { acceleratorNote: provider.acceleratorNote } : {}),
      ...(provider.sandboxNote ? { sandboxNote: provider.sandboxNote } : {}),
      ...(this.spool.degraded ? { spoolDegraded: this.spool.degraded } : {}),
    };
  }

  /** Resolves once the agent is in `state` (or rejects if it ends first). */
  waitForState(state: AgentState): Promise<void> {
    if (this.currentState === state) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onState = (next: AgentState) => {
        if (next === state) {
          this.off('state', onState);
          resolve();
        } else if (isFinalState(next)) {
          this.off('state', onState);
          reject(new Error(`the agent ended in ${next} while waiting for ${state}${this.lastError ? `: ${this.lastError}` : ''}`));
        }
      };
      this.on('state', onState);
    });
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  private async initialize(): Promise<void> {
    try {
      const found = await this.spool.load();
      if (found > 0) this.log.info(`found ${found} unacknowledged results in the spool; they will be resent`);
      await this.options.provider.start();
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : String(error);
      this.log.error(`could not start: ${this.lastError}`);
      await this.options.provider.stop().catch(() => undefined);
      this.setState(AgentState.FAILED);
      await this.writeStatusNow();
      this.resolveDone(AgentState.FAILED);
      throw error;
    }
    if (this.stopPromise) return;
    this.setState(AgentState.CONNECTING);
    this.loopDone = this.connectionLoop();
  }

  private async drain(): Promise<void> {
    if (this.startPromise) await this.startPromise.catch(() => undefined);
    if (isFinalState(this.currentState)) return;
    this.setState(AgentState.DRAINING);
    const drainMs = (this.options.drainTimeoutSeconds ?? 30) * 1000;
    const deadline = Date.now() + drainMs;
    // Queued tasks never started: giving them up now lets another agent (or this one, restarted) run them.
    this.queue.length = 0;
    this.queuedIds.clear();
    this.log.info(`draining: waiting up to ${drainMs / 1000} s for ${this.running.size} running tasks`);
    await this.waitFor(() => this.running.size === 0, deadline);
    if (this.running.size > 0) {
      this.log.warn(`drain time is up: abandoning ${this.running.size} running tasks (the server will hand them out again)`);
      for (const run of this.running.values()) run.controller.abort(new TaskCancelledError('the endpoint stopped before the task finished'));
      await this.waitFor(() => this.running.size === 0, Date.now() + 5000);
    }
    await this.flushNow();
    await this.waitFor(() => this.spool.size === 0 && this.completed.length === 0, Math.max(deadline, Date.now() + MIN_ACK_WAIT_MS));
    if (this.spool.size > 0) this.log.warn(`${this.spool.size} results are not acknowledged yet; they stay in the spool for the next start`);
    await this.shutdown(AgentState.STOPPED);
  }

  private async fail(error: AgentRefusedError): Promise<void> {
    this.lastError = error.message;
    this.log.error(error.message);
    for (const run of this.running.values()) run.controller.abort(new TaskCancelledError('the endpoint failed'));
    this.queue.length = 0;
    this.queuedIds.clear();
    await this.shutdown(AgentState.FAILED);
  }

  private async shutdown(finalState: AgentState): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.loopStopped = true;
    this.wakeSleeper?.();
    this.session?.ws.close(ENDPOINT_CLOSE.normal, finalState === 'FAILED' ? 'agent failed' : 'agent stopping');
    const closeDeadline = setTimeout(() => this.session?.ws.terminate(), 2000);
    // The loop itself calls shutdown when it fails, so it must not wait for itself.
    if (finalState !== AgentState.FAILED) await this.loopDone;
    else await this.waitFor(() => this.session === undefined, Date.now() + 3000);
    clearTimeout(closeDeadline);
    await this.options.provider.stop().catch((error: unknown) => this.log.warn(`stopping workers: ${String(error)}`));
    this.cancelFlushTimer();
    await this.flushIdle;
    if (this.statusTimer) clearTimeout(this.statusTimer);
    this.statusTimer = undefined;
    this.setState(finalState);
    await this.writeStatusNow();
    this.resolveDone(finalState);
  }

  private setState(next: AgentState): void {
    if (next === this.currentState) return;
    assertTransition(this.currentState, next);
    this.log.debug(`state ${this.currentState} → ${next}`);
    this.currentState = next;
    this.emit('state', next);
    this.changed();
  }

  /** Something observable changed: wake waiters and schedule a status-file rewrite. */
  private changed(): void {
    this.emit('change');
    this.scheduleStatusWrite();
  }

  private waitFor(predicate: () => boolean, deadline: number): Promise<void> {
    if (predicate() || this.forceStop || Date.now() >= deadline) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (predicate() || this.forceStop || Date.now() >= deadline) {
          this.off('change', check);
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(check, Math.max(0, deadline - Date.now()) + 1);
      this.on('change', check);
    });
  }

  // ---- connection ------------------------------------------------------------------------------

  private async connectionLoop(): Promise<void> {
    let attempt = 0;
    while (!this.loopStopped) {
      const welcomed = await this.connectOnce();
      if (this.fatal) {
        await this.fail(this.fatal);
        return;
      }
      if (this.loopStopped) return;
      if (welcomed) attempt = 0;
      const delay = backoffDelay(attempt++, this.options.reconnect);
      this.log.info(`reconnecting in ${delay} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wakeSleeper = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeSleeper = undefined;
    }
  }

  /** One connection, from dial to close. Resolves whether it was welcomed. */
  private connectOnce(): Promise<boolean> {
    this.connectionState = 'connecting';
    this.changed();
    return new Promise<boolean>((resolve) => {
      const ws = new WebSocket(this.wsUrl, {
        headers: { Authorization: `Bearer ${this.options.token}` },
        maxPayload: DEFAULT_LIMITS.maxFrameBytes,
        handshakeTimeout: this.options.handshakeTimeoutMs ?? 10_000,
      });
      const session: Session = { ws, outstandingCredits: 0, resultFramesInFlight: 0, lastHeardAt: Date.now() };
      this.session = session;
      let heartbeatTimer: NodeJS.Timeout | undefined;
      const handshakeTimer = setTimeout(() => {
        this.noteError(`the server did not welcome this agent within ${this.options.handshakeTimeoutMs ?? 10_000} ms`);
        ws.terminate();
      }, this.options.handshakeTimeoutMs ?? 10_000);

      const heard = () => (session.lastHeardAt = Date.now());
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
          if (res.statusCode === 401 || res.statusCode === 403) this.fatal ??= new AgentRefusedError('HTTP_REFUSED', message);
          else this.noteError(message);
          ws.terminate();
        };
        res.on('end', settle);
        res.on('error', settle);
      });

      ws.on('open', () => {
        heard();
        this.sendOn(session, 'hello', {
          instanceId: this.instanceId,
          // only until this agent is welcomed once: a reconnect must not take over from a newer agent
          takeover: (this.options.takeover ?? false) && !this.everWelcomed,
          protocolVersion: ENDPOINT_PROTOCOL_VERSION,
          agent: {
            name: this.options.name,
            version: AGENT_VERSION,
            hostname: hostname().slice(0, 256),
            pid: process.pid,
            platform: `${process.platform}-${process.arch}`,
            provider: this.options.provider.name,
            workers: this.options.provider.status().workers.total,
          },
          inFlight: this.inFlightIds(),
        });
      });

      ws.on('message', (data) => {
        heard();
        let frame;
        try {
          frame = parseFrame(ServerToEndpointSchemas, data.toString());
        } catch (error) {
          if (error instanceof FrameError && error.code === 'UNSUPPORTED_PROTOCOL_VERSION') {
            this.fatal ??= new AgentRefusedError(error.code, `the server speaks another protocol version: ${error.message}`, { cause: error });
            ws.close(ENDPOINT_CLOSE.protocolError, 'unsupported protocol version');
          } else {
            this.log.warn(`ignoring a frame from the server: ${error instanceof Error ? error.message : String(error)}`);
          }
          return;
        }
        switch (frame.type) {
          case 'welcome':
            clearTimeout(handshakeTimer);
            heartbeatTimer = this.onWelcome(session, frame.payload);
            break;
          case 'error':
            this.onErrorFrame(session, frame.payload);
            break;
          case 'tasks':
            if (session.welcome) this.onTasks(session, this.resolveTasks(session, frame.payload));
            break;
          case 'ack':
            session.resultFramesInFlight = Math.max(0, session.resultFramesInFlight - 1);
            void this.spool.ack(frame.payload.taskIds).then(() => this.changed());
            // results held back while frames were unacknowledged may go now, not at the fallback timer
            if (this.completed.length > 0) {
              if (this.flushTimer && this.flushDelayed) {
                clearTimeout(this.flushTimer as NodeJS.Timeout);
                this.flushTimer = undefined;
              }
              this.scheduleFlush();
            }
            break;
          case 'cancel':
            this.cancel(frame.payload.taskIds, 'the task was cancelled');
            break;
        }
      });

      ws.on('error', (error) => this.noteError(`connection to ${this.wsUrl} failed: ${error.message}`));

      ws.on('close', (code, reason) => {
        clearTimeout(handshakeTimer);
        // Another agent serves this endpoint (refused before welcome), or took it over: stop, do not reconnect.
        if (code === TAKEN_OVER || (code === ALREADY_SERVED && session.welcome === undefined)) {
          this.fatal ??= new AgentRefusedError('CONFLICT', `the server says: ${reason.toString() || 'another agent serves this endpoint'} (CONFLICT)`);
        }
        if (heartbeatTimer) clearInterval(heartbeatTimer);
        const welcomed = session.welcome !== undefined;
        // Closed by this agent's own stop (or refusal): said at info; a lost connection is a warning.
        if (welcomed) this.log[this.shuttingDown ? 'info' : 'warn'](`disconnected from the server (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`);
        if (this.session === session) this.session = undefined;
        this.connectionState = 'disconnected';
        if (this.currentState === AgentState.RUNNING) this.setState(AgentState.CONNECTING);
        this.startedBatch = [];
        this.changed();
        resolve(welcomed);
      });
    });
  }

  private onWelcome(session: Session, welcome: WelcomePayload): NodeJS.Timeout {
    session.welcome = welcome;
    this.everWelcomed = true;
    this.maxResultBytes = welcome.maxResultBytes;
    this.allowedFunctions = welcome.allowedFunctions ? new Set(welcome.allowedFunctions) : null;
    this.connectionState = 'connected';
    this.connectedAt = new Date().toISOString();
    this.lastError = undefined;
    this.log.info(`connected to ${this.options.url} as endpoint ${welcome.endpointName} (${welcome.endpointId})`);
    if (welcome.forget.length > 0) this.forget(welcome.forget);
    if (this.currentState === AgentState.CONNECTING) this.setState(AgentState.RUNNING);
    // Everything unacknowledged goes again: the previous connection may have died with frames in flight.
    for (const batch of chunkResults(this.spool.pending(), this.maxResultsPerFrame)) this.sendResults(session, batch);
    this.grantCredits();
    this.scheduleFlush();
    this.changed();
    const interval = welcome.heartbeatIntervalMs;
    return setInterval(() => {
      if (Date.now() - session.lastHeardAt > welcome.heartbeatTimeoutMs) {
        this.log.warn(`nothing heard from the server for ${welcome.heartbeatTimeoutMs} ms; reconnecting`);
        session.ws.terminate();
        return;
      }
      this.sendOn(session, 'heartbeat', this.heartbeat());
      try {
        session.ws.ping();
      } catch {
        // the socket is closing; 'close' follows
      }
      this.scheduleStatusWrite();
    }, interval);
  }

  private onErrorFrame(session: Session, error: ErrorBody): void {
    const message = `the server says: ${error.message} (${error.code})`;
    if (FATAL_ERROR_CODES.has(error.code)) {
      this.fatal ??= new AgentRefusedError(error.code, message);
      session.ws.close(ENDPOINT_CLOSE.normal, 'refused');
      return;
    }
    this.noteError(message);
  }

  private noteError(message: string): void {
    this.lastError = message;
    this.log.warn(message);
    this.scheduleStatusWrite();
  }

  private sendOn<K extends keyof EndpointToServer & string>(session: Session, type: K, payload: EndpointToServer[K]): boolean {
    if (session.ws.readyState !== WebSocket.OPEN) return false;
    session.ws.send(encodeFrame<EndpointToServer, K>(type, payload));
    return true;
  }

  private sendResults(session: Session, results: TaskResult[]): void {
    if (this.sendOn(session, 'results', { results })) session.resultFramesInFlight++;
  }

  /** The welcomed session, if any: frames other than `hello` go only there. */
  private liveSession(): Session | undefined {
    const session = this.session;
    return session?.welcome && session.ws.readyState === WebSocket.OPEN ? session : undefined;
  }

  private inFlightIds(): string[] {
    const ids = new Set<string>();
    for (const task of this.queue) ids.add(task.taskId);
    for (const id of this.running.keys()) ids.add(id);
    for (const result of this.completed) ids.add(result.taskId);
    for (const result of this.spooling) ids.add(result.taskId);
    for (const id of this.spool.ids()) ids.add(id);
    return [...ids].slice(0, 100_000);
  }

  private heartbeat(): HeartbeatPayload {
    const status = this.options.provider.status();
    return {
      ...(status.blocks || status.devices ? { details: { blocks: status.blocks, devices: status.devices } } : {}),
      state: this.currentState,
      workers: status.workers,
      queued: this.queue.length,
      running: this.running.size,
      spooled: this.spool.size + this.completed.length,
      provider: this.options.provider.name,
    };
  }

  // ---- tasks -----------------------------------------------------------------------------------

  /**
   * Turns a `tasks` frame into runnable specs: each task's function comes from the frame, or from the
   * functions this connection was sent before (the server sends a source once per connection; both
   * sides track it with the same FunctionSpecCache rule). Every frame's functions are noted, even when
   * draining, so this side keeps what the server believes it has. A task whose function this agent
   * does not hold (a server that broke the rule) fails with a sentence instead of waiting forever.
   */
  private resolveTasks(session: Session, payload: TasksPayload): TaskSpec[] {
    const inFrame = new Map(payload.functions.map((f) => [f.id, f]));
    const find = (id: string) => inFrame.get(id) ?? this.functionSpecs.get(id);
    const resolved: TaskSpec[] = [];
    for (const t of payload.tasks) {
      const { functionId, ...rest } = t;
      const fn = find(functionId);
      if (fn) {
        resolved.push({ ...rest, function: fn });
        continue;
      }
      this.log.warn('the task names a function the server never sent on this connection; failing it', { taskId: t.taskId, functionId });
      const unknown: TaskSpec = { ...rest, function: { id: functionId, runtime: 'js', source: '', contentHash: '' } };
      this.complete(unknown, Date.now(), failure('BAD_FRAME', 'UnknownFunction', `the server sent task ${t.taskId} without its function ${functionId}; the agent cannot run it`));
    }
    for (const id of functionsOf(payload.tasks)) {
      const fn = find(id);
      if (fn) this.functionSpecs.use(fn);
    }
    session.outstandingCredits = Math.max(0, session.outstandingCredits - (payload.tasks.length - resolved.length));
    return resolved;
  }

  private onTasks(session: Session, tasks: TaskSpec[]): void {
    session.outstandingCredits = Math.max(0, session.outstandingCredits - tasks.length);
    if (this.currentState === AgentState.DRAINING) {
      // Sent on credits granted before the drain began: left for the server to hand out again.
      this.log.info(`draining: not taking ${tasks.length} new tasks`);
      return;
    }
    for (const task of tasks) {
      if (this.running.has(task.taskId) || this.queuedIds.has(task.taskId)) {
        this.log.warn('the task was sent again while this agent still holds it; ignoring the copy', { taskId: task.taskId });
        continue;
      }
      this.queue.push(task);
      this.queuedIds.add(task.taskId);
    }
    this.pump();
    this.scheduleFlush();
  }

  /** Starts queued tasks while there are free slots. */
  private pump(): void {
    const capacity = this.options.provider.capacity();
    const taking = this.currentState === AgentState.RUNNING || this.currentState === AgentState.CONNECTING;
    while (taking && this.running.size < capacity && this.queue.length > 0) {
      const task = this.queue.shift() as TaskSpec;
      this.queuedIds.delete(task.taskId);
      this.startTask(task);
    }
    this.changed();
  }

  /**
   * Whether the function's source matches its content hash. The same function usually arrives many
   * times in a row, so the last few verified (hash, source) pairs are remembered: a string compare
   * instead of a sha256 per task.
   */
  private verifiedSource(fn: TaskSpec['function']): boolean {
    const key = `${fn.runtime}\n${fn.contentHash}`;
    if (this.verifiedSources.get(key) === fn.source) return true;
    if (functionContentHash(fn.runtime, fn.source) !== fn.contentHash) return false;
    if (this.verifiedSources.size >= 256) this.verifiedSources.clear();
    this.verifiedSources.set(key, fn.source);
    return true;
  }

  private startTask(task: TaskSpec): void {
    const fn = task.function;
    const startedAt = Date.now();
    // Checked here as well as at submit: the agent runs only what its endpoint allows, whatever it is sent.
    if (this.allowedFunctions && !this.allowedFunctions.has(fn.id)) {
      this.complete(task, startedAt, failure('FUNCTION_NOT_ALLOWED', 'FunctionNotAllowed', `endpoint ${this.options.endpointId ?? this.options.name} does not allow function ${fn.id}; refusing to run it`));
      return;
    }
    if (!this.verifiedSource(fn)) {
      this.complete(task, startedAt, failure('CONTENT_HASH_MISMATCH', 'ContentHashMismatch', `the function's source does not match its content hash ${fn.contentHash}; refusing to run it`));
      return;
    }
    const controller = new AbortController();
    const run: RunningTask = { task, controller, startedAt };
    // A task's own walltime request wins over its function's.
    // Absent: the endpoint's default; never more than its max.
    const walltimeSeconds = taskWalltimeSeconds(task, this.options.taskLimits);
    const begin = (at: number) => {
      run.startedAt = at;
      if (walltimeSeconds !== undefined && !controller.signal.aborted) {
        run.walltimeTimer = setTimeout(() => controller.abort(new WalltimeExceededError(walltimeSeconds)), walltimeSeconds * 1000);
      }
      this.startedBatch.push({ taskId: task.taskId, startedAt: at });
    };
    this.running.set(task.taskId, run);
    // A provider that waits for a block reports the real start; its walltime counts from there.
    const startsLater = this.options.provider.startsLater === true;
    if (!startsLater) begin(startedAt);
    let lost = false;
    this.options.provider
      .submit(task, controller.signal, {
        maxResultBytes: this.maxResultBytes,
        ...(startsLater ? { onStart: () => {
          if (this.running.get(task.taskId) !== run) return;
          begin(Date.now());
          this.scheduleFlush();
        } } : {}),
      })
      .catch((error: unknown): ExecutionOutcome => {
        if (error instanceof TaskLostError) lost = true;
        return { status: 'failed', error: toRemoteError(error, 'INTERNAL') };
      })
      .then((outcome) => {
        if (run.walltimeTimer) clearTimeout(run.walltimeTimer);
        if (this.running.get(task.taskId) === run) this.running.delete(task.taskId);
        const reason: unknown = controller.signal.reason;
        if (lost) {
          // What ran it went away (an HPC block ended): hand it back to be run again (attempt + 1).
          this.log.warn(`the task lost its worker (${outcome.status === 'failed' ? outcome.error.message : ''}); handing it back`, { taskId: task.taskId });
          this.lostBatch.push(task.taskId);
          this.changed();
        } else if (controller.signal.aborted && reason instanceof TaskCancelledError) {
          // Cancelled (by the server, a forget, or the end of a drain): the server has settled it already
          // or will hand it out again, so no result is owed.
          this.changed();
        } else {
          this.complete(task, run.startedAt, outcome);
        }
        this.pump();
        this.scheduleFlush();
      });
  }

  private complete(task: TaskSpec, startedAt: number, outcome: ExecutionOutcome): void {
    const result: TaskResult = {
      taskId: task.taskId,
      attempt: task.attempt,
      status: outcome.status,
      timings: { startedAt, finishedAt: Date.now(), ...(outcome.workerId ? { workerId: outcome.workerId } : {}) },
    };
    if (outcome.status === 'success') result.result = outcome.result ?? null;
    else result.error = outcome.error;
    this.completed.push(result);
    if (this.completed.length >= this.maxResultsPerFrame) void this.flushNow();
    else this.scheduleFlush();
  }

  private cancel(taskIds: string[], why: string): void {
    const ids = new Set(taskIds);
    const before = this.queue.length;
    const kept = this.queue.filter((t) => !ids.has(t.taskId));
    this.queue.splice(0, this.queue.length, ...kept);
    for (const id of ids) this.queuedIds.delete(id);
    let aborted = 0;
    for (const id of ids) {
      const run = this.running.get(id);
      if (run) {
        run.controller.abort(new TaskCancelledError(why));
        aborted++;
      }
    }
    if (before !== kept.length || aborted > 0) this.log.info(`cancelled ${before - kept.length} queued and ${aborted} running tasks`);
    this.scheduleFlush();
    this.changed();
  }

  /** Drops everything about tasks the server no longer wants from this agent. */
  private forget(taskIds: string[]): void {
    const ids = new Set(taskIds);
    this.completed = this.completed.filter((r) => !ids.has(r.taskId));
    this.cancel(taskIds, 'the server reassigned the task');
    void this.spool.ack(taskIds).then(() => this.changed());
  }

  // ---- coalesced output ----------------------------------------------------------------------

  /**
   * Coalescing without a fixed delay on an idle link: while fewer than MAX_RESULT_FRAMES_IN_FLIGHT
   * results frames await their ack, a flush runs at the end of this turn of the event loop (so one
   * result goes at once, and everything finished in the same turn goes in the same frame); otherwise
   * results gather until an ack arrives (or `flushIntervalMs`, for credits and `started`).
   */
  private scheduleFlush(): void {
    if (this.flushTimer || isFinalState(this.currentState)) return;
    const inFlight = this.liveSession()?.resultFramesInFlight ?? 0;
    this.flushDelayed = inFlight >= MAX_RESULT_FRAMES_IN_FLIGHT;
    if (!this.flushDelayed) {
      this.flushTimer = setImmediate(() => {
        this.flushTimer = undefined;
        void this.flushNow();
      });
    } else {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        void this.flushNow();
      }, this.flushIntervalMs);
    }
  }

  private cancelFlushTimer(): void {
    if (this.startedTimer) clearTimeout(this.startedTimer);
    this.startedTimer = undefined;
    if (this.flushTimer) {
      clearTimeout(this.flushTimer as NodeJS.Timeout);
      clearImmediate(this.flushTimer as NodeJS.Immediate);
    }
    this.flushTimer = undefined;
  }

  /** Sends `started`, spools and sends results, and grants credits, each as few frames as possible. */
  private flushNow(): Promise<void> {
    if (this.flushing) {
      this.flushAgain = true;
      return this.flushIdle;
    }
    this.flushing = true;
    this.flushIdle = this.flushLoop().finally(() => (this.flushing = false));
    return this.flushIdle;
  }

  private async flushLoop(): Promise<void> {
    do {
      this.flushAgain = false;
      const started = this.takeStarted();
      const live = this.liveSession();
      if (live && started.length > 0) this.sendOn(live, 'started', { tasks: started });
      if (this.lostBatch.length > 0) {
        const lost = this.lostBatch;
        this.lostBatch = [];
        // Without a live session the hand-back is implicit: the next hello does not name them.
        if (live) this.sendOn(live, 'requeue', { taskIds: lost, reason: 'the block running them ended' });
      }
      while (this.completed.length > 0) {
        const [batch] = chunkResults(this.completed, this.maxResultsPerFrame);
        this.completed = this.completed.slice(batch.length);
        this.spooling = batch;
        try {
          await this.spool.write(batch);
        } catch (error) {
          // Results that cannot be made durable locally are still worth sending: the server may ack them.
          this.log.warn(`${error instanceof Error ? error.message : String(error)}; sending without a spool copy`);
        } finally {
          this.spooling = [];
        }
        const session = this.liveSession();
        if (session) this.sendResults(session, batch);
        this.changed();
      }
      this.grantCredits();
    } while (this.flushAgain);
  }

  /**
   * The `started` updates due now. A task that has finished needs none (its result carries startedAt and
   * the server records both at once), so an update waits until its task has run `flushIntervalMs`: short
   * tasks then cost the server no statement for `started` at all.
   */
  private takeStarted(): { taskId: string; startedAt: number }[] {
    const due: { taskId: string; startedAt: number }[] = [];
    const young: { taskId: string; startedAt: number }[] = [];
    const cutoff = Date.now() - this.flushIntervalMs;
    for (const s of this.startedBatch) {
      if (!this.running.has(s.taskId)) continue;
      (s.startedAt <= cutoff ? due : young).push(s);
    }
    this.startedBatch = young;
    if (young.length > 0 && !this.startedTimer && !isFinalState(this.currentState)) {
      this.startedTimer = setTimeout(() => {
        this.startedTimer = undefined;
        void this.flushNow();
      }, this.flushIntervalMs + 1);
    }
    return due;
  }

  /** Grants the server credits up to the free capacity (free slots + prefetch − held − already granted). */
  private grantCredits(): void {
    const session = this.liveSession();
    if (!session || this.currentState !== AgentState.RUNNING) return;
    const capacity = this.options.provider.capacity() + this.prefetch;
    const want = capacity - this.queue.length - this.running.size - session.outstandingCredits;
    if (want <= 0) return;
    if (this.sendOn(session, 'credits', { credits: want })) session.outstandingCredits += want;
  }

  private scheduleStatusWrite(): void {
    if (!this.options.statusFile || this.statusTimer || this.shuttingDown) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      void this.writeStatusNow();
    }, this.options.statusIntervalMs ?? 200);
  }

  /** Rewrites the status file; a write already under way is followed by one more with the latest state. */
  private writeStatusNow(): Promise<void> {
    const path = this.options.statusFile;
    if (!path) return Promise.resolve();
    this.statusDirty = true;
    this.statusWrite ??= (async () => {
      try {
        while (this.statusDirty) {
          this.statusDirty = false;
          await writeStatusFile(path, this.snapshot()).catch((error: unknown) => this.log.warn(`could not write ${path}: ${String(error)}`));
        }
      } finally {
        this.statusWrite = undefined;
      }
    })();
    return this.statusWrite;
  }
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

/** Splits results into frames of at most `maxCount` results and about MAX_RESULT_FRAME_BYTES. */
export function chunkResults(results: TaskResult[], maxCount: number, maxBytes = MAX_RESULT_FRAME_BYTES): TaskResult[][] {
  const chunks: TaskResult[][] = [];
  let current: TaskResult[] = [];
  let bytes = 0;
  for (const result of results) {
    const size = result.status === 'success' ? (JSON.stringify(result.result)?.length ?? 4) + 256 : 1024;
    if (current.length > 0 && (current.length >= maxCount || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(result);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
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
