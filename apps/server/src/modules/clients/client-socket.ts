import type { WebSocket } from 'ws';
import { encodeFrame, type ServerToClient } from '@fx/protocol';
import type { Principal } from '../auth/principal.js';

/** Counts a frame sent on the client channel (MetricsService.frameSent). */
export type FrameCounter = (type: keyof ServerToClient) => void;

/** Sends a frame on a client socket while it is open, and counts it; a closed socket is skipped. */
export function sendClientFrame<K extends keyof ServerToClient>(ws: WebSocket, count: FrameCounter, type: K, payload: ServerToClient[K], id?: string): void {
  if (ws.readyState !== ws.OPEN) return;
  ws.send(encodeFrame<ServerToClient, K>(type, payload, id));
  count(type);
}

/** An authenticated socket of the client channel, and the task ids it waits on (SubscriptionsService). */
export class ClientSocket {
  readonly taskIds = new Set<string>();

  constructor(
    readonly ws: WebSocket,
    readonly principal: Principal,
    /** The bearer token the socket opened with: verified again for each submit frame, as REST does per request. */
    readonly token: string | undefined,
    private readonly count: FrameCounter,
  ) {}

  send<K extends keyof ServerToClient>(type: K, payload: ServerToClient[K], id?: string): void {
    sendClientFrame(this.ws, this.count, type, payload, id);
  }
}
