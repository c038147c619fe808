import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, Server } from 'node:http';
import type { WebSocket } from 'ws';
import { SOCKET_CLOSE, encodeFrame, type ErrorCode } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { PeriodicTask } from '../../common/periodic-task.js';
import { FxException } from '../../common/fx.exception.js';
import { closeReason } from '../../common/close-reason.js';
import { holdEarlyFrames, type ReleaseFrames } from '../../common/early-frames.js';
import { EventsService } from '../events/events.service.js';
import type { Principal } from './principal.js';
import { TokensRepository } from './tokens.repository.js';

export type Channel = 'client' | 'console' | 'endpoint';

interface Entry {
  ws: WebSocket;
  channel: Channel;
  address: string;
  principal?: Principal;
  expiry?: NodeJS.Timeout;
  /** Frame token bucket. */
  tokens: number;
  at: number;
}

/** setTimeout cannot wait longer than this; later expiries are left to the sweep. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Every websocket of this replica, whatever its channel, with the token it was opened with. One
 * mechanism for all channels: caps per user and per address, a frame rate per socket, and closing
 * the sockets of a token when it is revoked (a cluster event, so every replica acts at once), when it
 * expires (a timer), or when a sweep (one query for all of this replica's tokens) finds it no longer
 * valid, which covers an event lost to a broker outage and deleted users.
 */
@Injectable()
export class SocketRegistry implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Sockets');
  private readonly entries = new Map<WebSocket, Entry>();
  private readonly byAddress = new Map<string, number>();
  private readonly byUser = new Map<string, number>();
  private readonly sweeper = new PeriodicTask(() => this.recheckTokens());

  constructor(
    @Inject(APP_CONFIG)
    private readonly config: Pick<
      AppConfig,
      | 'FX_SOCKET_RECHECK_MS'
      | 'FX_HEADERS_TIMEOUT_MS'
      | 'FX_REQUEST_TIMEOUT_MS'
      | 'FX_WS_FRAME_BURST'
      | 'FX_MAX_SOCKETS_PER_ADDRESS'
      | 'FX_MAX_SOCKETS_PER_USER'
      | 'FX_WS_FRAMES_PER_SECOND'
    >,
    private readonly tokens: TokensRepository,
    private readonly events: EventsService,
    private readonly http: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    this.events.on('tokens-revoked', ({ tokenIds }) => this.closeTokens(new Set(tokenIds), 'token has been revoked'));
    this.sweeper.start(this.config.FX_SOCKET_RECHECK_MS);
  }

  onApplicationBootstrap(): void {
    // A peer that never finishes its request headers (or its websocket upgrade) is dropped.
    const server = this.http.httpAdapter?.getHttpServer() as Server | undefined;
    if (!server) return;
    server.headersTimeout = this.config.FX_HEADERS_TIMEOUT_MS;
    server.requestTimeout = Math.max(this.config.FX_REQUEST_TIMEOUT_MS, this.config.FX_HEADERS_TIMEOUT_MS);
    // Idle keep-alive connections stay open longer than clients keep them (undici: 4 s), so the client
    // is the one that closes: Node's 5 s let a client whose event loop was busy for a few seconds send a
    // POST on a socket the server had just closed, which fails and is not retried (not idempotent).
    server.keepAliveTimeout = 65_000;
    // Node checks those deadlines on this interval (30 s by default), read when the server starts listening.
    (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(1_000, this.config.FX_HEADERS_TIMEOUT_MS);
  }

  onModuleDestroy(): void {
    this.sweeper.stop();
    for (const e of this.entries.values()) clearTimeout(e.expiry);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Authenticated sockets per channel (for /metrics). */
  countByChannel(): Record<Channel, number> {
    const counts: Record<Channel, number> = { client: 0, console: 0, endpoint: 0 };
    for (const e of this.entries.values()) if (e.principal) counts[e.channel]++;
    return counts;
  }

  /**
   * Counts a new socket against its address, before any authentication. Returns false (and closes it)
   * when the address has too many; the socket is forgotten on close either way.
   */
  admit(ws: WebSocket, req: IncomingMessage | undefined, channel: Channel): boolean {
    const address = req?.socket.remoteAddress ?? 'unknown';
    const entry: Entry = { ws, channel, address, tokens: this.config.FX_WS_FRAME_BURST, at: Date.now() };
    this.entries.set(ws, entry);
    this.byAddress.set(address, (this.byAddress.get(address) ?? 0) + 1);
    ws.once('close', () => this.forget(entry));
    ws.on('message', () => this.countFrame(entry));
    const cap = this.config.FX_MAX_SOCKETS_PER_ADDRESS;
    if (cap > 0 && this.byAddress.get(address)! > cap) {
      this.close(ws, 'RATE_LIMITED', `too many open websockets from ${address} (the limit is ${cap}); close some and retry`, SOCKET_CLOSE.tooMany);
      return false;
    }
    return true;
  }

  /**
   * admit() for the channels that authenticate from the upgrade request (endpoint, client): an admitted
   * socket goes to `accept`, its frames held until the channel knows who is speaking and releases them.
   */
  admitHeld(ws: WebSocket, req: IncomingMessage, channel: Channel, accept: (release: ReleaseFrames) => Promise<void>): void {
    if (this.admit(ws, req, channel)) void accept(holdEarlyFrames(ws));
  }

  /**
   * The socket authenticated as `principal`: counted against its user's cap (throws RATE_LIMITED past it)
   * and closed when the token is revoked or expires.
   */
  bind(ws: WebSocket, principal: Principal): void {
    const entry = this.entries.get(ws);
    if (!entry || entry.principal) return;
    const cap = this.config.FX_MAX_SOCKETS_PER_USER;
    const open = this.byUser.get(principal.userId) ?? 0;
    if (cap > 0 && open >= cap) {
      throw new FxException('RATE_LIMITED', `this user already has ${open} open websockets (the limit is ${cap}); close some and retry`);
    }
    entry.principal = principal;
    this.byUser.set(principal.userId, open + 1);
    const left = principal.expiresAt ? principal.expiresAt.getTime() - Date.now() : undefined;
    if (left !== undefined && left < MAX_TIMER_MS) {
      entry.expiry = setTimeout(() => this.close(ws, 'UNAUTHENTICATED', 'token has expired', SOCKET_CLOSE.unauthorized), Math.max(0, left));
      entry.expiry.unref();
    }
  }

  /** Tells every replica to close the sockets opened with these tokens (call after the revocation is stored). */
  async revoked(tokenIds: string[]): Promise<void> {
    if (tokenIds.length) await this.events.publish('tokens-revoked', { tokenIds });
  }

  /** Sends an `error` frame (the same envelope on every channel), then closes. */
  close(ws: WebSocket, code: ErrorCode, message: string, closeCode: number): void {
    if (ws.readyState === ws.OPEN) ws.send(encodeFrame<{ error: { code: ErrorCode; message: string } }, 'error'>('error', { code, message }));
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(closeCode, closeReason(message));
    // a peer that does not answer the closing handshake is cut off
    setTimeout(() => ws.terminate(), 2_000).unref();
  }

  private countFrame(entry: Entry): void {
    const now = Date.now();
    entry.tokens = Math.min(this.config.FX_WS_FRAME_BURST, entry.tokens + ((now - entry.at) / 1000) * this.config.FX_WS_FRAMES_PER_SECOND);
    entry.at = now;
    if (entry.tokens >= 1) {
      entry.tokens -= 1;
      return;
    }
    if (entry.ws.readyState !== entry.ws.OPEN) return;
    this.logger.warn({ msg: 'frame flood; closing the socket', channel: entry.channel, address: entry.address, userId: entry.principal?.userId });
    this.close(
      entry.ws,
      'RATE_LIMITED',
      `too many frames: a socket may send ${this.config.FX_WS_FRAMES_PER_SECOND} per second (bursts of ${this.config.FX_WS_FRAME_BURST})`,
      SOCKET_CLOSE.tooMany,
    );
  }

  private forget(entry: Entry): void {
    if (this.entries.get(entry.ws) !== entry) return;
    this.entries.delete(entry.ws);
    clearTimeout(entry.expiry);
    const a = (this.byAddress.get(entry.address) ?? 1) - 1;
    if (a > 0) this.byAddress.set(entry.address, a);
    else this.byAddress.delete(entry.address);
    if (entry.principal) {
      const u = (this.byUser.get(entry.principal.userId) ?? 1) - 1;
      if (u > 0) this.byUser.set(entry.principal.userId, u);
      else this.byUser.delete(entry.principal.userId);
    }
  }

  private closeTokens(tokenIds: Set<string>, message: string): void {
    for (const e of [...this.entries.values()]) {
      if (e.principal && tokenIds.has(e.principal.tokenId)) {
        this.logger.log({ msg: `closing a socket: ${message}`, channel: e.channel, userId: e.principal.userId });
        this.close(e.ws, 'UNAUTHENTICATED', message, SOCKET_CLOSE.unauthorized);
      }
    }
  }

  /** One query for every token behind this replica's sockets; those no longer valid are closed. */
  async sweep(): Promise<void> {
    await this.sweeper.runOnce();
  }

  private async recheckTokens(): Promise<void> {
    const ids = new Set<string>();
    for (const e of this.entries.values()) if (e.principal) ids.add(e.principal.tokenId);
    if (ids.size === 0) return;
    try {
      const gone = await this.tokens.findGone([...ids]);
      if (gone.size) this.closeTokens(gone, 'token has been revoked or has expired');
    } catch (e) {
      // the database is busy or away: not the tokens' fault
      this.logger.warn(`could not re-check the tokens of open sockets: ${(e as Error).message}`);
    }
  }
}
