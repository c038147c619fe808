import { Logger } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import { CLIENT_FRAME_MAX_BYTES, ClientToServerSchemas, FrameError, SOCKET_CLOSE, parseFrame, type ErrorCode, type SubmitPayload } from '@fx/protocol';
import { FxException } from '../../common/fx.exception.js';
import type { ReleaseFrames } from '../../common/early-frames.js';
import { closeReason } from '../../common/close-reason.js';
import { InboundBudget, drained, frameBytes } from '../../common/inbound-budget.js';
import { AuthService } from '../auth/auth.service.js';
import { HeldChannelGateway } from '../auth/held-channel.gateway.js';
import { SocketRegistry } from '../auth/socket-registry.service.js';
import { MAX_SUBSCRIPTIONS_PER_SOCKET, SubscriptionsService } from './subscriptions.service.js';
import { ClientSocket, sendClientFrame } from './client-socket.js';
import { LiveWatchService, MAX_WATCHES_PER_SOCKET } from '../live/live-watch.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { INVALID_FRAME_TYPE } from '../metrics/metric-instruments.js';
import { jsonScanProblem, DEFAULT_JSON_SCAN_LIMITS } from '../../common/json-scan.js';
import { SocketSubmitService, errorBodyOf } from './socket-submit.service.js';

/**
 * Client frames are requests (subscribe holds at most DEFAULT_LIMITS.maxIdsPerRequest ids, about 400
 * KB; a larger submission goes over REST): nothing larger is read.
 */
export const CLIENT_MAX_FRAME_BYTES = CLIENT_FRAME_MAX_BYTES;
/** Bytes of a socket's frames held at once (submissions run side by side) before it is not read: 16 of the largest. */
export const CLIENT_INBOUND_BYTES = 16 * CLIENT_MAX_FRAME_BYTES;
/**
 * Bytes waiting to go out to a socket past which its next frame waits: a client that asks for replays
 * (subscribe, watch with logs) and reads nothing is then no longer read either.
 */
const CLIENT_OUTBOUND_BYTES = 32 * 1024 * 1024;

/**
 * The client channel: SDKs submit tasks, subscribe to task ids and are pushed each final outcome once,
 * and watch running tasks' progress and logs.
 */
@WebSocketGateway({ path: '/v1/ws/client', maxPayload: CLIENT_MAX_FRAME_BYTES })
export class ClientGateway extends HeldChannelGateway {
  protected readonly channel = 'client';
  private readonly logger = new Logger('ClientChannel');

  constructor(
    private readonly auth: AuthService,
    private readonly subscriptions: SubscriptionsService,
    protected readonly sockets: SocketRegistry,
    private readonly watches: LiveWatchService,
    private readonly metrics: MetricsService,
    private readonly submitter: SocketSubmitService,
  ) {
    super();
  }

  /** Counts a frame this channel sent. */
  private readonly sent = (type: string) => this.metrics.frameSent('client', type);

  protected async accept(ws: WebSocket, req: IncomingMessage, release: ReleaseFrames): Promise<void> {
    let socket: ClientSocket;
    try {
      const token = AuthService.bearer(req.headers.authorization);
      const principal = await this.auth.verify(token);
      if (principal.kind !== 'user') throw new FxException('FORBIDDEN', 'endpoint tokens may only connect to the endpoint channel');
      if (ws.readyState !== ws.OPEN) return;
      this.sockets.bind(ws, principal);
      socket = new ClientSocket(ws, principal, token, this.sent);
    } catch (e) {
      const fx = e instanceof FxException ? e : new FxException('UNAUTHENTICATED', 'authentication failed');
      sendClientFrame(ws, this.sent, 'error', { code: fx.code, message: fx.message });
      ws.close(fx.code === 'RATE_LIMITED' ? SOCKET_CLOSE.tooMany : SOCKET_CLOSE.unauthorized, closeReason(fx.message));
      return;
    }
    let chain = Promise.resolve();
    const inbound = new InboundBudget(ws, CLIENT_INBOUND_BYTES, () => this.metrics.socketReadsPaused('client'));
    const onData = (data: RawData) => {
      const size = frameBytes(data as Buffer | Buffer[]);
      inbound.hold(size);
      let submitted: Promise<void> | undefined;
      chain = chain
        .then(async () => {
          submitted = (await this.handle(socket, data as Buffer))?.submitted;
          // what the frame's answer left waiting to go out (a watch's replay of logs) drains first
          await drained(ws, CLIENT_OUTBOUND_BYTES);
        })
        .catch((e) => {
          this.logger.error({ msg: 'client frame failed', err: e });
          socket.send('error', { code: 'INTERNAL', message: 'the server could not handle that frame; retry' });
        })
        // a submission holds its frame's bytes until it is answered, off the chain
        .finally(() => (submitted ? void submitted.finally(() => inbound.release(size)) : inbound.release(size)));
    };
    ws.on('close', () => {
      this.subscriptions.drop(socket);
      this.watches.drop(socket);
    });
    release(onData);
  }

  /** Handles one frame; a submission runs on after it returns (`submitted`: its answer was sent), as concurrent REST requests do. */
  private async handle(socket: ClientSocket, data: Buffer): Promise<{ submitted: Promise<void> } | void> {
    let frame;
    try {
      // the bounds bodyGate holds REST bodies to (depth, keys), before JSON.parse
      const problem = jsonScanProblem(data, DEFAULT_JSON_SCAN_LIMITS);
      if (problem) throw new FrameError('VALIDATION_FAILED', problem);
      frame = parseFrame(ClientToServerSchemas, data);
      this.metrics.frameReceived('client', frame.type);
    } catch (e) {
      this.metrics.frameReceived('client', INVALID_FRAME_TYPE);
      const fe = e as FrameError;
      return socket.send('error', { code: fe.code as ErrorCode, message: fe.message });
    }
    if (frame.type === 'submit') return { submitted: this.submit(socket, data.length, frame.payload, frame.id) };
    if (frame.type === 'unsubscribe') return this.subscriptions.unsubscribe(socket, frame.payload.taskIds);
    if (frame.type === 'unwatch') return this.watches.unwatch(socket, frame.payload.taskIds);
    if (frame.type === 'watch') {
      if (this.watches.watching(socket) + frame.payload.taskIds.length > MAX_WATCHES_PER_SOCKET) {
        return socket.send('error', { code: 'VALIDATION_FAILED', message: `a socket may watch at most ${MAX_WATCHES_PER_SOCKET} tasks` }, frame.id);
      }
      return this.watches.watch(socket, frame.payload, frame.id);
    }
    if (socket.taskIds.size + frame.payload.taskIds.length > MAX_SUBSCRIPTIONS_PER_SOCKET) {
      return socket.send('error', { code: 'VALIDATION_FAILED', message: `a socket may wait on at most ${MAX_SUBSCRIPTIONS_PER_SOCKET} tasks` }, frame.id);
    }
    const { notFound, ready } = await this.subscriptions.subscribe(socket, frame.payload.taskIds);
    socket.send('subscribed', { notFound }, frame.id);
    // awaited: the frame's inbound bytes stay held until its replay went out (back-pressure)
    await this.subscriptions.replay(socket, ready);
  }

  private async submit(socket: ClientSocket, bytes: number, payload: SubmitPayload, id: string | undefined): Promise<void> {
    try {
      await this.submitter.submit(socket, bytes, payload, (answer) => socket.send('submitted', answer, id));
    } catch (e) {
      const body = errorBodyOf(e);
      if (body.code === 'INTERNAL') this.logger.error({ msg: 'submit frame failed', err: e });
      socket.send('error', body, id);
      if (body.code === 'UNAUTHENTICATED') this.sockets.close(socket.ws, body.code, body.message, SOCKET_CLOSE.unauthorized);
    }
  }
}
