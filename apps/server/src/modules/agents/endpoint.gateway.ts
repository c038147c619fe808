import { Inject, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import {
  DEFAULT_LIMITS,
  ENDPOINT_CLOSE as CLOSE,
  EndpointToServerSchemas,
  FrameError,
  ENDPOINT_PROTOCOL_VERSION,
  SOCKET_CLOSE,
  encodeFrame,
  parseFrame,
  type EndpointToServer,
  type ErrorCode,
  type Frame,
  type AgentInfo,
  type HeartbeatPayload,
  type ServerToEndpoint,
} from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { FxException } from '../../common/fx.exception.js';
import { closeReason } from '../../common/close-reason.js';
import { AuthService } from '../auth/auth.service.js';
import { SocketRegistry } from '../auth/socket-registry.service.js';
import { EndpointsRepository } from '../endpoints/endpoints.repository.js';
import { TasksRepository } from '../tasks/tasks.repository.js';
import { EventsService } from '../tasks/events.service.js';
import { QueueService } from '../tasks/queue.service.js';
import { DispatchService } from './dispatch.service.js';
import { EndpointConnection } from './endpoint-connection.js';
import { ResultsService, saneTime } from './results.service.js';

type AgentFrame = Frame<typeof EndpointToServerSchemas>;

/** Heartbeats after a connection's first are written in batches gathered over this long. */
const HEARTBEAT_COALESCE_MS = 1_000;
/** Most results recorded in one statement when frames are recorded together. */
const MAX_RESULTS_PER_STATEMENT = 2_000;

/**
 * The endpoint channel. Frames are parsed with the protocol catalog before anything else sees them,
 * handled in order per connection, and answered through the typed sender.
 */
@WebSocketGateway({ path: '/v1/ws/endpoint', maxPayload: DEFAULT_LIMITS.maxFrameBytes })
export class EndpointGateway implements OnGatewayConnection, OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('EndpointChannel');
  private liveness?: NodeJS.Timeout;
  private readonly heartbeatSeen = new WeakSet<EndpointConnection>();
  private readonly heartbeats = new Map<EndpointConnection, HeartbeatPayload>();
  private heartbeatTimer?: NodeJS.Timeout;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly auth: AuthService,
    private readonly endpoints: EndpointsRepository,
    private readonly tasks: TasksRepository,
    private readonly events: EventsService,
    private readonly queue: QueueService,
    private readonly dispatch: DispatchService,
    private readonly results: ResultsService,
    private readonly sockets: SocketRegistry,
  ) {}

  onModuleInit(): void {
    // A connection accepted on another replica replaces this replica's connection of the endpoint.
    this.events.on('agent-replaced', ({ endpointId, keep, takeover, message }) => {
      const conn = this.dispatch.current(endpointId);
      if (conn && conn.id !== keep) this.replace(conn, takeover, message);
    });
    // One timer for every connection on this replica, not one per agent.
    this.liveness = setInterval(() => this.checkLiveness(), this.config.FX_HEARTBEAT_INTERVAL_MS);
    this.liveness.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.liveness);
    clearTimeout(this.heartbeatTimer);
  }

  /**
   * One UPDATE of endpoints and one lease extension for every heartbeat gathered: 1,000 idle agents cost
   * two statements a second, not 400. A failure is only logged: the next heartbeats try again, well
   * before any lease (FX_HEARTBEAT_TIMEOUT_MS > 2 × the interval) runs out.
   */
  private async flushHeartbeats(): Promise<void> {
    this.heartbeatTimer = undefined;
    const batch = [...this.heartbeats];
    this.heartbeats.clear();
    if (batch.length === 0) return;
    try {
      await this.endpoints.recordHeartbeats(batch.map(([c, status]) => ({ id: c.endpointId, status })));
      await this.tasks.extendLeases(batch.map(([c]) => c.id), this.config.FX_HEARTBEAT_TIMEOUT_MS);
      for (const [c] of batch) this.events.noteEndpointChanged(c.endpointId);
    } catch (e) {
      this.logger.warn(`could not record ${batch.length} heartbeats: ${(e as Error).message}`);
    }
  }

  private checkLiveness(): void {
    const now = Date.now();
    for (const conn of this.dispatch.all()) {
      if (now - conn.lastSeen > this.config.FX_HEARTBEAT_TIMEOUT_MS) {
        this.logger.warn({ msg: 'no word from the agent; dropping the connection', endpointId: conn.endpointId, connId: conn.id, silentMs: now - conn.lastSeen });
        conn.ws.terminate();
      } else if (conn.open && now - conn.lastSeen >= this.config.FX_HEARTBEAT_INTERVAL_MS) {
        // only quiet connections: an agent heard within the interval (heartbeats, pongs) is alive
        conn.ws.ping();
      }
    }
  }

  handleConnection(ws: WebSocket, req: IncomingMessage): void {
    if (!this.sockets.admit(ws, req, 'endpoint')) return;
    // Frames can arrive before authentication finishes: hold them until then.
    const early: RawData[] = [];
    const hold = (data: RawData) => early.push(data);
    ws.on('message', hold);
    void this.accept(ws, req, early, hold);
  }

  private refuse(ws: WebSocket, code: ErrorCode, message: string, closeCode: number): void {
    if (ws.readyState === ws.OPEN) ws.send(encodeFrame<ServerToEndpoint, 'error'>('error', { code, message }));
    ws.close(closeCode, closeReason(message));
  }

  private async accept(ws: WebSocket, req: IncomingMessage, early: RawData[], hold: (d: RawData) => void): Promise<void> {
    let endpointId: string;
    try {
      const principal = await this.auth.verify(AuthService.bearer(req.headers.authorization));
      if (principal.kind !== 'endpoint' || !principal.endpointId) {
        return this.refuse(ws, 'FORBIDDEN', 'the endpoint channel needs an endpoint token (user tokens act on the REST API)', CLOSE.unauthorized);
      }
      endpointId = principal.endpointId;
      if (!(await this.endpoints.findLive(endpointId))) return this.refuse(ws, 'NOT_FOUND', `endpoint ${endpointId} no longer exists`, CLOSE.gone);
      if (ws.readyState !== ws.OPEN) return;
      this.sockets.bind(ws, principal);
    } catch (e) {
      if (e instanceof FxException && e.code === 'RATE_LIMITED') return this.refuse(ws, e.code, e.message, SOCKET_CLOSE.tooMany);
      if (!(e instanceof FxException)) this.logger.error({ msg: 'endpoint channel: authentication broke', err: e });
      const fx = e instanceof FxException ? e : new FxException('INTERNAL', 'authentication failed');
      return this.refuse(ws, fx.code, fx.message, CLOSE.unauthorized);
    }

    const conn = new EndpointConnection(endpointId, ws);
    let welcomed = false;
    const helloTimer = setTimeout(() => {
      if (!welcomed) this.refuse(ws, 'BAD_FRAME', 'no hello within 10 s', CLOSE.timeout);
    }, 10_000);
    const onData = (data: RawData) => {
      conn.lastSeen = Date.now();
      conn.chain = conn.chain.then(async () => {
        let frame: AgentFrame;
        const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer).byteLength;
        if (size > this.config.FX_MAX_FRAME_BYTES) {
          return this.refuse(ws, 'PAYLOAD_TOO_LARGE', `frame of ${size} bytes is over the limit of ${this.config.FX_MAX_FRAME_BYTES}`, CLOSE.tooBig);
        }
        try {
          frame = parseFrame(EndpointToServerSchemas, data as Buffer);
        } catch (e) {
          const fe = e as FrameError;
          this.logger.warn({ msg: `bad frame: ${fe.message}`, endpointId, connId: conn.id });
          if (fe.code === 'UNSUPPORTED_PROTOCOL_VERSION' || !welcomed) return this.refuse(ws, fe.code, fe.message, CLOSE.badRequest);
          return conn.send('error', { code: fe.code, message: fe.message });
        }
        try {
          if (!welcomed) {
            if (frame.type !== 'hello') return this.refuse(ws, 'BAD_FRAME', `the first frame must be "hello", not "${frame.type}"`, CLOSE.badRequest);
            if (!(await this.hello(conn, frame.payload))) return;
            welcomed = true;
            clearTimeout(helloTimer);
            return;
          }
          await this.handle(conn, frame);
        } catch (e) {
          if (e instanceof FrameError) return this.refuse(ws, e.code, e.message, CLOSE.badRequest);
          this.logger.error({ msg: `handling "${frame.type}" failed`, endpointId, connId: conn.id, err: e });
          // The agent keeps unacknowledged results and resends them after reconnecting.
          if (!welcomed) this.refuse(ws, 'UNAVAILABLE', 'the server could not accept this connection now; retry', CLOSE.serverError);
          else ws.close(CLOSE.serverError, 'server error; reconnect');
        }
      });
    };
    ws.off('message', hold);
    ws.on('message', onData);
    ws.on('pong', () => (conn.lastSeen = Date.now()));
    ws.on('close', (code) => {
      clearTimeout(helloTimer);
      if (this.dispatch.detach(conn)) {
        this.logger.log({ msg: 'agent disconnected', endpointId, connId: conn.id, code });
        // Leases stay until they expire: an agent that comes back in time keeps its running tasks.
        void this.endpoints
          .markDisconnected(endpointId, conn.id)
          .then(() => this.events.noteEndpointChanged(endpointId))
          .catch(() => undefined);
      }
    });
    for (const data of early) onData(data);
  }

  /** Welcomes the agent; false when it was refused (another agent serves the endpoint) and the socket closes. */
  private async hello(conn: EndpointConnection, hello: EndpointToServer['hello']): Promise<boolean> {
    if (hello.protocolVersion !== ENDPOINT_PROTOCOL_VERSION) {
      throw new FrameError(
        'UNSUPPORTED_PROTOCOL_VERSION',
        `this server speaks endpoint protocol version ${ENDPOINT_PROTOCOL_VERSION}; the agent speaks ${hello.protocolVersion}: run an fx-endpoint of the same FX release as the server`,
      );
    }
    conn.instanceId = hello.instanceId;
    conn.agent = hello.agent;
    // Checked before anything changes: a refused agent must not requeue the running one's tasks.
    const other = await this.otherLiveAgent(conn);
    if (other && !hello.takeover) {
      this.logger.warn({ msg: `refused a second agent: ${other}`, endpointId: conn.endpointId, connId: conn.id, agentHost: hello.agent.hostname, agentPid: hello.agent.pid });
      this.refuse(conn.ws, 'CONFLICT', `${other}; stop it first, or start this agent with --takeover to replace it`, CLOSE.replaced);
      return false;
    }
    if (!conn.open) return false;
    const takeover = !!other;
    const message = takeover
      ? `endpoint ${conn.endpointId} was taken over by another agent (${hello.agent.hostname}, pid ${hello.agent.pid}); this one stops`
      : 'replaced by a newer connection of the same agent';
    // The old agent goes before its tasks are requeued, wherever it is connected.
    const previous = this.dispatch.attach(conn);
    if (previous && previous !== conn) this.replace(previous, takeover, message);
    await this.events.publish('agent-replaced', { endpointId: conn.endpointId, keep: conn.id, takeover, message });
    const { requeued, exhausted, forget } = await this.tasks.reconcileEndpoint(
      conn.endpointId,
      conn.id,
      hello.inFlight,
      this.config.FX_HEARTBEAT_TIMEOUT_MS,
      this.config.FX_MAX_ATTEMPTS,
    );
    await this.endpoints.markConnected(conn.endpointId, { ...hello.agent, ...(hello.instanceId ? { instanceId: hello.instanceId } : {}), connectionId: conn.id });
    this.events.noteEndpointChanged(conn.endpointId);
    const endpoint = await this.endpoints.findLive(conn.endpointId);
    conn.send('welcome', {
      endpointId: conn.endpointId,
      endpointName: endpoint?.name ?? '',
      heartbeatIntervalMs: this.config.FX_HEARTBEAT_INTERVAL_MS,
      heartbeatTimeoutMs: this.config.FX_HEARTBEAT_TIMEOUT_MS,
      maxTasksPerFrame: this.config.FX_MAX_TASKS_PER_FRAME,
      maxResultBytes: this.config.FX_MAX_RESULT_BYTES,
      forget,
      allowedFunctions: endpoint?.restricted ? endpoint.allowedFunctions : null,
    });
    const facts = { endpointId: conn.endpointId, connId: conn.id, agentHost: hello.agent.hostname, agentPid: hello.agent.pid, inFlight: hello.inFlight.length, requeued: requeued.length };
    this.logger.log({ msg: takeover ? 'agent connected, taking over' : 'agent connected', ...facts });
    await this.queue.enqueue(requeued);
    await this.events.publishOutcomes(exhausted);
    return true;
  }

  /**
   * A sentence naming the other agent instance that serves this endpoint now, if there is one: on this
   * replica (a connection heard from within the heartbeat timeout), or on another (the endpoint row's
   * agent, with a heartbeat that recent). A reconnect of the same instance, or an agent too old to say
   * which instance it is, is not "another".
   */
  private async otherLiveAgent(conn: EndpointConnection): Promise<string | undefined> {
    if (!conn.instanceId) return undefined;
    const fresh = Date.now() - this.config.FX_HEARTBEAT_TIMEOUT_MS;
    const local = this.dispatch.current(conn.endpointId);
    if (local && local !== conn && local.open && local.lastSeen > fresh) {
      if (!local.instanceId || local.instanceId === conn.instanceId) return undefined;
      return describeAgent(conn.endpointId, local.agent, local.since);
    }
    // The embedded store serves one replica only: what this replica holds is the whole truth, and a row
    // left "connected" by a server that was killed must not refuse an agent restarted with it.
    if (!this.config.DATABASE_URL) return undefined;
    const row = await this.endpoints.findLive(conn.endpointId);
    const agent = row?.agent as (AgentInfo & { instanceId?: string }) | null | undefined;
    if (!row || !agent?.instanceId || agent.instanceId === conn.instanceId) return undefined;
    const connected = row.connectedAt && (!row.disconnectedAt || row.disconnectedAt < row.connectedAt);
    const heard = Math.max(row.lastHeartbeatAt?.getTime() ?? 0, row.connectedAt?.getTime() ?? 0);
    if (!connected || heard <= fresh) return undefined;
    return describeAgent(conn.endpointId, agent, row.connectedAt ?? undefined);
  }

  /** Closes an agent connection that another one replaced; after a takeover, the old agent is told to stop. */
  private replace(old: EndpointConnection, takeover: boolean, message: string): void {
    if (takeover) this.refuse(old.ws, 'CONFLICT', message, CLOSE.takenOver);
    else old.ws.close(CLOSE.replaced, closeReason(message));
  }

  /** Records the waiting results frames, as few statements as possible; each frame gets its own ack. */
  private async recordResults(conn: EndpointConnection): Promise<void> {
    conn.recording = true;
    try {
      while (conn.resultFrames.length > 0 && conn.open) {
        let take = 0;
        let rows = 0;
        while (take < conn.resultFrames.length && (take === 0 || rows + conn.resultFrames[take]!.length <= MAX_RESULTS_PER_STATEMENT)) {
          rows += conn.resultFrames[take]!.length;
          take++;
        }
        const frames = conn.resultFrames.splice(0, take);
        await this.results.record(conn, frames.flat());
        for (const results of frames) conn.send('ack', { taskIds: results.map((r) => r.taskId) });
      }
    } catch (e) {
      // Unacknowledged results stay with the agent, which resends them after reconnecting.
      this.logger.error({ msg: 'recording results failed', endpointId: conn.endpointId, connId: conn.id, err: e });
      conn.resultFrames = [];
      conn.ws.close(CLOSE.serverError, 'server error; reconnect');
    } finally {
      conn.recording = false;
    }
  }

  private async handle(conn: EndpointConnection, frame: AgentFrame): Promise<void> {
    switch (frame.type) {
      case 'credits':
        this.dispatch.grant(conn, frame.payload.credits);
        return;
      case 'started': {
        // Only tasks leased to this connection change (and only they show as running in live views).
        const started = frame.payload.tasks.map((t) => ({ taskId: t.taskId, startedAt: saneTime(t.startedAt) ?? Date.now() }));
        const changed = await this.tasks.markRunning(conn.endpointId, conn.id, started);
        this.events.noteTaskStates('running', conn.endpointId, changed);
        return;
      }
      case 'results':
        // Off the frame chain: credits and heartbeats behind it are not held up by the statement, and
        // frames that arrive while one is recorded are recorded together in the next (group commit).
        conn.resultFrames.push(frame.payload.results);
        if (!conn.recording) void this.recordResults(conn);
        return;
      case 'heartbeat':
        if (!this.heartbeatSeen.has(conn)) {
          // The first on a connection is written at once, so live views show the agent's status now.
          this.heartbeatSeen.add(conn);
          await this.endpoints.recordHeartbeat(conn.endpointId, frame.payload);
          this.events.noteEndpointChanged(conn.endpointId);
          await this.tasks.extendLeases(conn.id, this.config.FX_HEARTBEAT_TIMEOUT_MS);
          return;
        }
        // Later ones only refresh: gathered for HEARTBEAT_COALESCE_MS, then two statements for all.
        this.heartbeats.set(conn, frame.payload);
        this.heartbeatTimer ??= setTimeout(() => void this.flushHeartbeats(), HEARTBEAT_COALESCE_MS);
        return;
      case 'hello':
        conn.send('error', { code: 'BAD_FRAME', message: 'hello was already received on this connection' });
        return;
      case 'requeue': {
        // An HPC block ended under these tasks: back to the queue with attempt + 1 (or failed past the limit).
        const { requeued, exhausted } = await this.tasks.requeueReturned(conn.endpointId, conn.id, frame.payload.taskIds, this.config.FX_MAX_ATTEMPTS);
        const facts = { endpointId: conn.endpointId, connId: conn.id, returned: frame.payload.taskIds.length, requeued: requeued.length, taskIds: frame.payload.taskIds.slice(0, 10) };
        this.logger.log({ msg: `the agent handed tasks back: ${frame.payload.reason}`, ...facts });
        await this.queue.enqueue(requeued);
        await this.events.publishOutcomes(exhausted);
        return;
      }
    }
  }
}

function describeAgent(endpointId: string, agent: AgentInfo | undefined, since: Date | undefined): string {
  const who = agent ? `on host ${agent.hostname}, pid ${agent.pid}` : 'of unknown origin';
  return `endpoint ${endpointId} is already served by another agent (${who}, connected since ${since?.toISOString() ?? 'an unknown time'})`;
}
