import { Inject, Logger } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import { DEFAULT_LIMITS, ENDPOINT_CLOSE as CLOSE, EndpointToServerSchemas, FrameError, SOCKET_CLOSE, parseFrame, type Frame } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { FxException } from '../../common/fx.exception.js';
import type { ReleaseFrames } from '../../common/early-frames.js';
import { frameBytes } from '../../common/inbound-budget.js';
import { AuthService } from '../auth/auth.service.js';
import { HeldChannelGateway } from '../auth/held-channel.gateway.js';
import { SocketRegistry } from '../auth/socket-registry.service.js';
import { LeaseService } from '../leases/lease.service.js';
import { AgentLivenessService } from './agent-liveness.service.js';
import { AgentSessionService } from './agent-session.service.js';
import { DispatchService } from './dispatch.service.js';
import { EndpointConnection, refuse } from './endpoint-connection.js';
import { ResultsService } from './results.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { INVALID_FRAME_TYPE } from '../metrics/metric-instruments.js';

type AgentFrame = Frame<typeof EndpointToServerSchemas>;

/**
 * The endpoint channel: accepts an agent's socket, authenticates its endpoint token, parses every frame
 * with the protocol catalog before anything else sees it, and routes it, in order per connection, to
 * the service that acts on it.
 */
@WebSocketGateway({ path: '/v1/ws/endpoint', maxPayload: DEFAULT_LIMITS.maxFrameBytes })
export class EndpointGateway extends HeldChannelGateway {
  protected readonly channel = 'endpoint';
  private readonly logger = new Logger('EndpointChannel');

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_MAX_FRAME_BYTES'>,
    private readonly auth: AuthService,
    protected readonly sockets: SocketRegistry,
    private readonly sessions: AgentSessionService,
    private readonly liveness: AgentLivenessService,
    private readonly dispatch: DispatchService,
    private readonly results: ResultsService,
    private readonly leases: LeaseService,
    private readonly metrics: MetricsService,
  ) {
    super();
  }

  protected async accept(ws: WebSocket, req: IncomingMessage, release: ReleaseFrames): Promise<void> {
    let endpointId: string;
    try {
      const principal = await this.auth.verify(AuthService.bearer(req.headers.authorization));
      if (principal.kind !== 'endpoint' || !principal.endpointId) {
        return refuse(ws, 'FORBIDDEN', 'the endpoint channel needs an endpoint token (user tokens act on the REST API)', CLOSE.unauthorized);
      }
      endpointId = principal.endpointId;
      if (!(await this.sessions.endpointExists(endpointId))) return refuse(ws, 'NOT_FOUND', `endpoint ${endpointId} no longer exists`, CLOSE.gone);
      if (ws.readyState !== ws.OPEN) return;
      this.sockets.bind(ws, principal);
    } catch (e) {
      if (e instanceof FxException && e.code === 'RATE_LIMITED') return refuse(ws, e.code, e.message, SOCKET_CLOSE.tooMany);
      if (!(e instanceof FxException)) this.logger.error({ msg: 'endpoint channel: authentication broke', err: e });
      const fx = e instanceof FxException ? e : new FxException('INTERNAL', 'authentication failed');
      return refuse(ws, fx.code, fx.message, CLOSE.unauthorized);
    }

    const conn = new EndpointConnection(
      endpointId,
      ws,
      (type, n) => this.metrics.frameSent('endpoint', type, n),
      // a frame as large as the limit may wait while one is handled; past that the agent waits
      this.config.FX_MAX_FRAME_BYTES,
      () => this.metrics.socketReadsPaused('endpoint'),
      // its silence while it was not read was the server's: it counts from now (AgentLivenessService)
      () => this.liveness.heard(conn),
    );
    let welcomed = false;
    const helloTimer = setTimeout(() => {
      if (!welcomed) refuse(ws, 'BAD_FRAME', 'no hello within 10 s', CLOSE.timeout);
    }, 10_000);
    const onData = (data: RawData) => {
      this.liveness.heard(conn);
      const size = frameBytes(data as Buffer | Buffer[]);
      conn.inbound.hold(size);
      conn.chain = conn.chain
        .then(async () => {
          let frame: AgentFrame;
          if (size > this.config.FX_MAX_FRAME_BYTES) {
            return refuse(ws, 'PAYLOAD_TOO_LARGE', `frame of ${size} bytes is over the limit of ${this.config.FX_MAX_FRAME_BYTES}`, CLOSE.tooBig);
          }
          try {
            frame = parseFrame(EndpointToServerSchemas, data as Buffer);
            this.metrics.frameReceived('endpoint', frame.type);
          } catch (e) {
            this.metrics.frameReceived('endpoint', INVALID_FRAME_TYPE);
            const fe = e as FrameError;
            this.logger.warn({ msg: `bad frame: ${fe.message}`, endpointId, connId: conn.id });
            if (fe.code === 'UNSUPPORTED_PROTOCOL_VERSION' || !welcomed) return refuse(ws, fe.code, fe.message, CLOSE.badRequest);
            return conn.send('error', { code: fe.code, message: fe.message });
          }
          try {
            if (!welcomed) {
              if (frame.type !== 'hello') return refuse(ws, 'BAD_FRAME', `the first frame must be "hello", not "${frame.type}"`, CLOSE.badRequest);
              if (!(await this.sessions.hello(conn, frame.payload))) return;
              welcomed = true;
              clearTimeout(helloTimer);
              return;
            }
            await this.route(conn, frame, size);
          } catch (e) {
            if (e instanceof FrameError) return refuse(ws, e.code, e.message, CLOSE.badRequest);
            this.logger.error({ msg: `handling "${frame.type}" failed`, endpointId, connId: conn.id, err: e });
            // The agent keeps unacknowledged results and resends them after reconnecting.
            if (!welcomed) refuse(ws, 'UNAVAILABLE', 'the server could not accept this connection now; retry', CLOSE.serverError);
            else ws.close(CLOSE.serverError, 'server error; reconnect');
          }
        })
        // its turn is over; results and lines recorded later hold their bytes again until then (ResultsService)
        .finally(() => conn.inbound.release(size));
    };
    this.liveness.watch(conn);
    ws.on('close', (code) => {
      clearTimeout(helloTimer);
      this.sessions.closed(conn, code);
    });
    release(onData);
  }

  private async route(conn: EndpointConnection, frame: AgentFrame, size: number): Promise<void> {
    switch (frame.type) {
      case 'credits':
        return this.dispatch.grant(conn, frame.payload.credits);
      case 'started':
        return this.results.started(conn, frame.payload.tasks);
      case 'results':
        // not awaited: recorded off the frame chain, together with the frames that come meanwhile
        return this.results.accept(conn, frame.payload.results, size);
      case 'heartbeat':
        return this.liveness.heartbeat(conn, frame.payload);
      case 'hello':
        return conn.send('error', { code: 'BAD_FRAME', message: 'hello was already received on this connection' });
      case 'stream':
        return this.results.stream(conn, frame.payload, size);
      case 'requeue':
        // An HPC block ended under these tasks: back to the queue with attempt + 1 (or failed past the limit).
        return this.leases.handBack(conn, frame.payload.taskIds, frame.payload.reason);
    }
  }
}
