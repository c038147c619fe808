import { Logger } from '@nestjs/common';
import { OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import { ClientToServerSchemas, FrameError, SOCKET_CLOSE, encodeFrame, parseFrame, type ErrorCode, type ServerToClient } from '@fx/protocol';
import { FxException } from '../../common/fx.exception.js';
import { holdEarlyFrames, type ReleaseFrames } from '../../common/early-frames.js';
import { closeReason } from '../../common/close-reason.js';
import { AuthService } from '../auth/auth.service.js';
import { SocketRegistry } from '../auth/socket-registry.service.js';
import { MAX_SUBSCRIPTIONS_PER_SOCKET, SubscriptionsService, type ClientSocket } from './subscriptions.service.js';
import { LiveWatchService, MAX_WATCHES_PER_SOCKET } from '../live/live-watch.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { INVALID_FRAME_TYPE } from '../metrics/metric-instruments.js';

/**
 * Client frames are small requests (subscribe holds at most DEFAULT_LIMITS.maxIdsPerRequest ids, about
 * 400 KB): nothing larger is read.
 */
export const CLIENT_MAX_FRAME_BYTES = 1024 * 1024;

/** The client channel: SDKs subscribe to task ids and are pushed each final outcome once, and watch running tasks' progress and logs. */
@WebSocketGateway({ path: '/v1/ws/client', maxPayload: CLIENT_MAX_FRAME_BYTES })
export class ClientGateway implements OnGatewayConnection {
  private readonly logger = new Logger('ClientChannel');

  constructor(
    private readonly auth: AuthService,
    private readonly subscriptions: SubscriptionsService,
    private readonly sockets: SocketRegistry,
    private readonly watches: LiveWatchService,
    private readonly metrics: MetricsService,
  ) {}

  handleConnection(ws: WebSocket, req: IncomingMessage): void {
    if (!this.sockets.admit(ws, req, 'client')) return;
    void this.accept(ws, req, holdEarlyFrames(ws));
  }

  private send<K extends keyof ServerToClient>(ws: WebSocket, type: K, payload: ServerToClient[K], id?: string): void {
    if (ws.readyState !== ws.OPEN) return;
    ws.send(encodeFrame<ServerToClient, K>(type, payload, id));
    this.metrics.frameSent('client', type);
  }

  private async accept(ws: WebSocket, req: IncomingMessage, release: ReleaseFrames): Promise<void> {
    let socket: ClientSocket;
    try {
      const principal = await this.auth.verify(AuthService.bearer(req.headers.authorization));
      if (principal.kind !== 'user') throw new FxException('FORBIDDEN', 'endpoint tokens may only connect to the endpoint channel');
      if (ws.readyState !== ws.OPEN) return;
      this.sockets.bind(ws, principal);
      socket = { ws, principal, taskIds: new Set() };
    } catch (e) {
      const fx = e instanceof FxException ? e : new FxException('UNAUTHENTICATED', 'authentication failed');
      this.send(ws, 'error', { code: fx.code, message: fx.message });
      ws.close(fx.code === 'RATE_LIMITED' ? SOCKET_CLOSE.tooMany : SOCKET_CLOSE.unauthorized, closeReason(fx.message));
      return;
    }
    let chain = Promise.resolve();
    const onData = (data: RawData) => {
      chain = chain
        .then(() => this.handle(socket, data as Buffer))
        .catch((e) => {
          this.logger.error({ msg: 'client frame failed', err: e });
          this.send(ws, 'error', { code: 'INTERNAL', message: 'the server could not handle that frame; retry' });
        });
    };
    ws.on('close', () => {
      this.subscriptions.drop(socket);
      this.watches.drop(socket);
    });
    release(onData);
  }

  private async handle(socket: ClientSocket, data: Buffer): Promise<void> {
    let frame;
    try {
      frame = parseFrame(ClientToServerSchemas, data);
      this.metrics.frameReceived('client', frame.type);
    } catch (e) {
      this.metrics.frameReceived('client', INVALID_FRAME_TYPE);
      const fe = e as FrameError;
      return this.send(socket.ws, 'error', { code: fe.code as ErrorCode, message: fe.message });
    }
    if (frame.type === 'unsubscribe') return this.subscriptions.unsubscribe(socket, frame.payload.taskIds);
    if (frame.type === 'unwatch') return this.watches.unwatch(socket, frame.payload.taskIds);
    if (frame.type === 'watch') {
      if (this.watches.watching(socket) + frame.payload.taskIds.length > MAX_WATCHES_PER_SOCKET) {
        return this.send(socket.ws, 'error', { code: 'VALIDATION_FAILED', message: `a socket may watch at most ${MAX_WATCHES_PER_SOCKET} tasks` }, frame.id);
      }
      return this.watches.watch(socket, frame.payload, frame.id);
    }
    if (socket.taskIds.size + frame.payload.taskIds.length > MAX_SUBSCRIPTIONS_PER_SOCKET) {
      return this.send(
        socket.ws,
        'error',
        { code: 'VALIDATION_FAILED', message: `a socket may wait on at most ${MAX_SUBSCRIPTIONS_PER_SOCKET} tasks` },
        frame.id,
      );
    }
    const { notFound, ready } = await this.subscriptions.subscribe(socket, frame.payload.taskIds);
    this.send(socket.ws, 'subscribed', { notFound }, frame.id);
    this.subscriptions.send(socket, ready);
  }
}
