import type { OnGatewayConnection } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { ReleaseFrames } from '../../common/early-frames.js';
import type { Channel, SocketRegistry } from './socket-registry.service.js';

/**
 * The connection step of a channel whose sockets authenticate before their frames are read (the
 * endpoint and client channels): SocketRegistry admits the socket, holding its early frames, and the
 * gateway's `accept` authenticates it and then releases them.
 */
export abstract class HeldChannelGateway implements OnGatewayConnection {
  protected abstract readonly channel: Channel;
  protected abstract readonly sockets: SocketRegistry;

  protected abstract accept(ws: WebSocket, req: IncomingMessage, release: ReleaseFrames): Promise<void>;

  handleConnection(ws: WebSocket, req: IncomingMessage): void {
    this.sockets.admitHeld(ws, req, this.channel, (release) => this.accept(ws, req, release));
  }
}
