import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';

/** Node's own answers to a client error (http's socketOnError), for the sockets this does not exempt. */
const ANSWERS: Record<string, string> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: '413 Payload Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
};

/**
 * Requests whose body may take longer than FX_REQUEST_TIMEOUT_MS to arrive: object uploads, which
 * stream gigabytes. Node drops a request not received in full by `server.requestTimeout` (through a
 * 'clientError'); an exempted request's socket is let be, and its handler bounds it by idleness
 * instead (no byte for FX_REQUEST_TIMEOUT_MS ends it). Every other socket gets Node's own answer.
 */
@Injectable()
export class LongRequests implements OnApplicationBootstrap {
  private readonly sockets = new WeakSet<Socket>();

  constructor(private readonly http: HttpAdapterHost) {}

  onApplicationBootstrap(): void {
    const server = this.http.httpAdapter?.getHttpServer() as Server | undefined;
    if (!server || server.listenerCount('clientError') > 0) return;
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && this.sockets.has(socket)) return;
      const message = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (socket.writable && !message?.headersSent) socket.write(`HTTP/1.1 ${ANSWERS[err.code ?? ''] ?? '400 Bad Request'}\r\nConnection: close\r\n\r\n`);
      socket.destroy(err);
    });
  }

  /** Exempts this request from the whole-request deadline until the returned function is called. */
  exempt(req: IncomingMessage): () => void {
    const socket = req.socket;
    this.sockets.add(socket);
    return () => this.sockets.delete(socket);
  }
}
