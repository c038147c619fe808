import { Logger } from '@nestjs/common';
import { OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import { CONSOLE_CLOSE, ConsoleToServerSchemas, FrameError, parseFrame, SOCKET_CLOSE, type ErrorCode } from '@fx/protocol';
import { FxException } from '../../common/fx.exception.js';
import { closeReason } from '../../common/close-reason.js';
import { SocketRegistry } from '../auth/socket-registry.service.js';
import { CONSOLE_COALESCE_MS } from '../events/events.service.js';
import { ConsoleFeedService } from './console-feed.service.js';

const AUTH_TIMEOUT_MS = 10_000;

/**
 * The console channel. A browser authenticates with its first frame (`auth { token }`: no token in
 * URLs or logs), then is sent the live changes it may see (ConsoleFeedService); it sends nothing more.
 */
@WebSocketGateway({ path: '/v1/ws/console', maxPayload: 64 * 1024 })
export class ConsoleGateway implements OnGatewayConnection {
  private readonly logger = new Logger('ConsoleChannel');

  constructor(
    private readonly feed: ConsoleFeedService,
    private readonly registry: SocketRegistry,
  ) {}

  handleConnection(ws: WebSocket, req?: IncomingMessage): void {
    // Revocation and expiry close the socket through the registry, as on the other channels.
    if (!this.registry.admit(ws, req, 'console')) return;
    let state: 'waiting' | 'authenticating' | 'ready' = 'waiting';
    const timer = setTimeout(() => {
      if (state !== 'ready') this.refuse(ws, 'UNAUTHENTICATED', `send "auth" with a token within ${AUTH_TIMEOUT_MS / 1000} s`, CONSOLE_CLOSE.timeout);
    }, AUTH_TIMEOUT_MS);
    ws.on('close', () => {
      clearTimeout(timer);
      this.feed.remove(ws);
    });
    ws.on('message', (data: RawData) => {
      if (state !== 'waiting') {
        // the channel is server → browser once authenticated
        if (state === 'ready') this.feed.send(ws, 'error', { code: 'BAD_FRAME', message: 'this channel takes one "auth" frame and nothing after it' });
        return;
      }
      state = 'authenticating';
      void this.authenticate(ws, data).then((ok) => {
        clearTimeout(timer);
        state = ok ? 'ready' : 'waiting';
      });
    });
  }

  private async authenticate(ws: WebSocket, data: RawData): Promise<boolean> {
    try {
      const frame = parseFrame(ConsoleToServerSchemas, data as Buffer);
      const { principal, user } = await this.feed.authenticate(frame.payload.token);
      if (ws.readyState !== ws.OPEN) return false;
      this.registry.bind(ws, principal);
      this.feed.add(ws, principal);
      this.feed.send(ws, 'ready', { user, coalesceMs: CONSOLE_COALESCE_MS });
      return true;
    } catch (e) {
      if (!(e instanceof FxException || e instanceof FrameError)) this.logger.error({ msg: 'console channel: authentication broke', err: e });
      const code: ErrorCode = e instanceof FxException || e instanceof FrameError ? e.code : 'INTERNAL';
      const message = e instanceof FxException || e instanceof FrameError ? e.message : 'authentication failed';
      const closeCode =
        code === 'RATE_LIMITED'
          ? SOCKET_CLOSE.tooMany
          : code === 'BAD_FRAME' || code === 'UNSUPPORTED_PROTOCOL_VERSION'
            ? CONSOLE_CLOSE.badFrame
            : CONSOLE_CLOSE.unauthorized;
      this.refuse(ws, code, message, closeCode);
      return false;
    }
  }

  private refuse(ws: WebSocket, code: ErrorCode, message: string, closeCode: number): void {
    this.feed.send(ws, 'error', { code, message });
    ws.close(closeCode, closeReason(message));
  }
}
