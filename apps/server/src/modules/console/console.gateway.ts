import { Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import {
  CONSOLE_CLOSE,
  CONSOLE_MAX_TASK_CHANGES,
  ConsoleToServerSchemas,
  FrameError,
  encodeFrame,
  parseFrame,
  SOCKET_CLOSE,
  type ConsoleEndpoint,
  type ErrorCode,
  type ServerToConsole,
  type TaskChange,
} from '@fx/protocol';
import { FxException } from '../../common/fx.exception.js';
import { closeReason } from '../../common/close-reason.js';
import { AuthService } from '../auth/auth.service.js';
import { TokensRepository } from '../auth/tokens.repository.js';
import { SocketRegistry } from '../auth/socket-registry.service.js';
import type { Principal } from '../auth/principal.js';
import { toUserInfo } from '../users/users.mapper.js';
import { CONSOLE_COALESCE_MS, EventsService } from '../tasks/events.service.js';
import { ConsoleRepository } from './console.repository.js';
import { ConsoleService } from './console.service.js';

const AUTH_TIMEOUT_MS = 10_000;
/** A socket this far behind gets `overflow` instead of more task changes. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
const OWNER_CACHE_MAX = 100_000;

interface ConsoleSocket {
  ws: WebSocket;
  principal: Principal;
  /** A frame was skipped for back-pressure: the next one says overflow. */
  behind: boolean;
}

/**
 * The console channel. A browser authenticates with its first frame (`auth { token }`: no token in
 * URLs or logs), then receives at most one `events` frame per CONSOLE_COALESCE_MS with every task
 * and endpoint change it may see. Changes come from cluster events, so every replica's console
 * sockets see the whole fabric; each replica merges them and reads changed endpoints once per frame.
 */
@WebSocketGateway({ path: '/v1/ws/console', maxPayload: 64 * 1024 })
export class ConsoleGateway implements OnGatewayConnection, OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('ConsoleChannel');
  private readonly sockets = new Set<ConsoleSocket>();
  private tasks = new Map<string, TaskChange>();
  private endpointIds = new Set<string>();
  private removed = new Set<string>();
  private overflow = false;
  private timer?: NodeJS.Timeout;
  private flushing = false;
  /** Endpoint → owner. Owners never change, so entries never go stale. */
  private readonly owners = new Map<string, string>();

  constructor(
    private readonly auth: AuthService,
    private readonly tokens: TokensRepository,
    private readonly events: EventsService,
    private readonly console: ConsoleService,
    private readonly repo: ConsoleRepository,
    private readonly registry: SocketRegistry,
  ) {}

  onModuleInit(): void {
    this.events.on('console-changes', ({ tasks, endpointIds, overflow }) => {
      if (this.sockets.size === 0) return;
      if (overflow) this.overflow = true;
      for (const g of tasks) {
        for (const id of g.ids) {
          // a final state (from 'results') is never overwritten by a late non-final note
          const prev = this.tasks.get(id);
          if (prev?.completedAt) continue;
          this.tasks.set(id, { id, status: g.status, endpointId: g.endpointId });
        }
      }
      for (const id of endpointIds) this.endpointIds.add(id);
      this.schedule();
    });
    this.events.on('results', ({ results }) => {
      if (this.sockets.size === 0) return;
      for (const r of results) {
        const prev = this.tasks.get(r.taskId);
        this.tasks.set(r.taskId, {
          id: r.taskId,
          status: r.status,
          ownerId: r.ownerId,
          ...(prev?.endpointId ? { endpointId: prev.endpointId } : {}),
          completedAt: r.completedAt ?? new Date().toISOString(),
          ...(r.error ? { errorCode: r.error.code } : {}),
        });
      }
      this.schedule();
    });
    this.events.on('endpoint-gone', ({ endpointId }) => {
      if (this.sockets.size === 0) return;
      this.removed.add(endpointId);
      this.endpointIds.delete(endpointId);
      this.schedule();
    });
  }

  onModuleDestroy(): void {
    clearTimeout(this.timer);
  }

  handleConnection(ws: WebSocket, req?: IncomingMessage): void {
    // Revocation and expiry close the socket through the registry, as on the other channels.
    if (!this.registry.admit(ws, req, 'console')) return;
    let state: 'waiting' | 'authenticating' | 'ready' = 'waiting';
    const timer = setTimeout(() => {
      if (state !== 'ready') this.refuse(ws, 'UNAUTHENTICATED', `send "auth" with a token within ${AUTH_TIMEOUT_MS / 1000} s`, CONSOLE_CLOSE.timeout);
    }, AUTH_TIMEOUT_MS);
    ws.on('close', () => {
      clearTimeout(timer);
      for (const s of this.sockets) if (s.ws === ws) this.sockets.delete(s);
    });
    ws.on('message', (data: RawData) => {
      if (state !== 'waiting') {
        // the channel is server → browser once authenticated
        if (state === 'ready') this.send(ws, 'error', { code: 'BAD_FRAME', message: 'this channel takes one "auth" frame and nothing after it' });
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
      const principal = await this.auth.verify(frame.payload.token);
      if (principal.kind !== 'user') throw new FxException('FORBIDDEN', 'the console channel needs a user token');
      const row = await this.tokens.findWithUser(principal.tokenId);
      if (!row) throw new FxException('UNAUTHENTICATED', 'token is not known to this server');
      if (ws.readyState !== ws.OPEN) return false;
      this.registry.bind(ws, principal);
      this.sockets.add({ ws, principal, behind: false });
      this.send(ws, 'ready', { user: toUserInfo(row.user), coalesceMs: CONSOLE_COALESCE_MS });
      return true;
    } catch (e) {
      if (!(e instanceof FxException || e instanceof FrameError)) this.logger.error({ msg: 'console channel: authentication broke', err: e });
      const code: ErrorCode = e instanceof FxException || e instanceof FrameError ? e.code : 'INTERNAL';
      const message = e instanceof FxException || e instanceof FrameError ? e.message : 'authentication failed';
      const closeCode = code === 'RATE_LIMITED' ? SOCKET_CLOSE.tooMany : code === 'BAD_FRAME' || code === 'UNSUPPORTED_PROTOCOL_VERSION' ? CONSOLE_CLOSE.badFrame : CONSOLE_CLOSE.unauthorized;
      this.refuse(ws, code, message, closeCode);
      return false;
    }
  }

  private send<K extends keyof ServerToConsole>(ws: WebSocket, type: K, payload: ServerToConsole[K]): void {
    if (ws.readyState === ws.OPEN) ws.send(encodeFrame<ServerToConsole, K>(type, payload));
  }

  private refuse(ws: WebSocket, code: ErrorCode, message: string, closeCode: number): void {
    this.send(ws, 'error', { code, message });
    ws.close(closeCode, closeReason(message));
  }

  private schedule(): void {
    if (this.timer || this.flushing) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, CONSOLE_COALESCE_MS);
    this.timer.unref();
  }

  /** One frame per socket with what it may see; endpoints are read once for all sockets. */
  private async flush(): Promise<void> {
    const tasks = this.tasks;
    const endpointIds = [...this.endpointIds];
    const removed = [...this.removed];
    const overflow = this.overflow;
    this.tasks = new Map();
    this.endpointIds = new Set();
    this.removed = new Set();
    this.overflow = false;
    if (this.sockets.size === 0) return;
    this.flushing = true;
    try {
      const changes = [...tasks.values()];
      const unknown = new Set<string>();
      for (const t of changes) if (!t.ownerId && t.endpointId && !this.owners.has(t.endpointId)) unknown.add(t.endpointId);
      for (const id of removed) if (!this.owners.has(id)) unknown.add(id);
      if (unknown.size) {
        if (this.owners.size + unknown.size > OWNER_CACHE_MAX) this.owners.clear();
        for (const [id, owner] of await this.repo.endpointOwners([...unknown])) this.owners.set(id, owner);
      }
      // a task's owner is its endpoint's owner: submissions go only to one's own endpoints
      for (const t of changes) if (!t.ownerId && t.endpointId) t.ownerId = this.owners.get(t.endpointId);
      const endpoints: ConsoleEndpoint[] = endpointIds.length ? await this.console.endpointViews({ ids: endpointIds }) : [];
      for (const e of endpoints) this.owners.set(e.id, e.ownerId);

      for (const s of this.sockets) {
        const mine = <T>(items: T[], owner: (x: T) => string | undefined) => (s.principal.admin ? items : items.filter((x) => owner(x) === s.principal.userId));
        let myTasks = mine(changes, (t) => t.ownerId);
        let over = overflow || s.behind;
        if (myTasks.length > CONSOLE_MAX_TASK_CHANGES) {
          myTasks = [];
          over = true;
        }
        const myEndpoints = mine(endpoints, (e) => e.ownerId);
        const myRemoved = mine(removed, (id) => this.owners.get(id));
        if (!myTasks.length && !myEndpoints.length && !myRemoved.length && !over) continue;
        if (s.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
          s.behind = true;
          continue;
        }
        s.behind = false;
        this.send(s.ws, 'events', { tasks: myTasks, endpoints: myEndpoints, removedEndpoints: myRemoved, overflow: over });
      }
    } catch (e) {
      this.logger.error({ msg: 'console frame failed', err: e });
    } finally {
      this.flushing = false;
      if (this.tasks.size || this.endpointIds.size || this.removed.size || this.overflow) this.schedule();
    }
  }
}
