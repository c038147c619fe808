import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { CONSOLE_MAX_TASK_CHANGES, encodeFrame, type ConsoleEndpoint, type ServerToConsole, type TaskChange, type UserInfo } from '@fx/protocol';
import { FxException } from '../../common/fx.exception.js';
import { AuthService } from '../auth/auth.service.js';
import { TokensRepository } from '../auth/tokens.repository.js';
import type { Principal } from '../auth/principal.js';
import { EndpointsService } from '../endpoints/endpoints.service.js';
import { CONSOLE_COALESCE_MS, EventsService } from '../events/events.service.js';
import { toUserInfo } from '../users/users.mapper.js';

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
 * What the console channel's sockets are sent: at most one `events` frame per CONSOLE_COALESCE_MS with
 * every task and endpoint change each may see. Changes come from cluster events, so every replica's
 * console sockets see the whole fabric; each replica merges them, reads changed endpoints once per
 * frame, and keeps what each socket may see to its user (an admin sees everything).
 */
@Injectable()
export class ConsoleFeedService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('ConsoleChannel');
  private readonly sockets = new Set<ConsoleSocket>();
  private tasks = new Map<string, TaskChange>();
  private endpointIds = new Set<string>();
  private removed = new Set<string>();
  private overflow = false;
  /** Users whose own changes overflowed a window: only their sockets (and admins') are told. */
  private overflowOwners = new Set<string>();
  private timer?: NodeJS.Timeout;
  private flushing = false;
  /** Endpoint → owner. Owners never change, so entries never go stale. */
  private readonly owners = new Map<string, string>();

  constructor(
    private readonly auth: AuthService,
    private readonly tokens: TokensRepository,
    private readonly events: EventsService,
    private readonly endpoints: EndpointsService,
  ) {}

  onModuleInit(): void {
    this.events.on('console-changes', ({ tasks, endpointIds, overflow, overflowOwners }) => {
      if (this.sockets.size === 0) return;
      if (overflow) this.overflow = true;
      for (const owner of overflowOwners ?? []) this.overflowOwners.add(owner);
      for (const g of tasks) {
        for (const id of g.ids) {
          // a final state (from 'results') is never overwritten by a late non-final note
          const prev = this.tasks.get(id);
          if (prev?.completedAt) continue;
          this.tasks.set(id, { id, status: g.status, endpointId: g.endpointId, ownerId: g.ownerId });
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

  /** The user a console token acts for; throws FxException when it may not open the console channel. */
  async authenticate(token: string): Promise<{ principal: Principal; user: UserInfo }> {
    const principal = await this.auth.verify(token);
    if (principal.kind !== 'user') throw new FxException('FORBIDDEN', 'the console channel needs a user token');
    const row = await this.tokens.findWithUser(principal.tokenId);
    if (!row) throw new FxException('UNAUTHENTICATED', 'token is not known to this server');
    return { principal, user: toUserInfo(row.user) };
  }

  /** From now on the socket is sent what its user may see. */
  add(ws: WebSocket, principal: Principal): void {
    this.sockets.add({ ws, principal, behind: false });
  }

  remove(ws: WebSocket): void {
    for (const s of this.sockets) if (s.ws === ws) this.sockets.delete(s);
  }

  send<K extends keyof ServerToConsole>(ws: WebSocket, type: K, payload: ServerToConsole[K]): void {
    if (ws.readyState === ws.OPEN) ws.send(encodeFrame<ServerToConsole, K>(type, payload));
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
    const overflowOwners = this.overflowOwners;
    this.overflowOwners = new Set();
    this.tasks = new Map();
    this.endpointIds = new Set();
    this.removed = new Set();
    this.overflow = false;
    if (this.sockets.size === 0) return;
    this.flushing = true;
    try {
      // every change names its task's owner, which need not be its endpoint's (an endpoint group's member)
      const changes = [...tasks.values()];
      const unknown = removed.filter((id) => !this.owners.has(id));
      if (unknown.length) {
        if (this.owners.size + unknown.length > OWNER_CACHE_MAX) this.owners.clear();
        for (const [id, owner] of await this.endpoints.owners(unknown)) this.owners.set(id, owner);
      }
      const endpoints: ConsoleEndpoint[] = endpointIds.length ? await this.endpoints.views({ ids: endpointIds }) : [];
      for (const e of endpoints) this.owners.set(e.id, e.ownerId);

      for (const s of this.sockets) {
        const mine = <T>(items: T[], owner: (x: T) => string | undefined) => (s.principal.admin ? items : items.filter((x) => owner(x) === s.principal.userId));
        let myTasks = mine(changes, (t) => t.ownerId);
        let over = overflow || s.behind || (s.principal.admin ? overflowOwners.size > 0 : overflowOwners.has(s.principal.userId));
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
      if (this.tasks.size || this.endpointIds.size || this.removed.size || this.overflow || this.overflowOwners.size) this.schedule();
    }
  }
}
