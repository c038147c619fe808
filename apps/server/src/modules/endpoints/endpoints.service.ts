import { Inject, Injectable } from '@nestjs/common';
import {
  HeartbeatPayload,
  AgentInfo,
  looksLikeUuid,
  parseRef,
  type ConsoleEndpoint,
  type EndpointInfo,
  type EndpointStatusResponse,
  type RegisterEndpointRequest,
  type RegisterEndpointResponse,
  type UpdateEndpointRequest,
} from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { FxException } from '../../common/fx.exception.js';
import { iso } from '../../common/iso.js';
import { resolveRefIds } from '../../common/refs.js';
import { isUniqueViolation } from '../../common/unique-violation.js';
import { AuthService } from '../auth/auth.service.js';
import { TokensRepository } from '../auth/tokens.repository.js';
import type { Principal } from '../auth/principal.js';
import { TasksRepository } from '../tasks/tasks.repository.js';
import { EventsService } from '../events/events.service.js';
import { OutcomesService } from '../dependencies/outcomes.service.js';
import { AuditService } from '../audit/audit.service.js';
import { listed, tokenIssued } from '../audit/audit-details.js';
import { EndpointsRepository } from './endpoints.repository.js';

export type EndpointRow = NonNullable<Awaited<ReturnType<EndpointsRepository['findLive']>>>;
type EndpointWithOwner = Awaited<ReturnType<EndpointsRepository['findLiveWithOwner']>>[number];

@Injectable()
export class EndpointsService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_IDLE_HEARTBEAT_TIMEOUT_MS' | 'FX_MAX_ENDPOINTS_PER_USER'>,
    private readonly endpoints: EndpointsRepository,
    private readonly tokens: TokensRepository,
    private readonly tasks: TasksRepository,
    private readonly auth: AuthService,
    private readonly events: EventsService,
    private readonly outcomes: OutcomesService,
    private readonly audit: AuditService,
  ) {}

  /** Online means a heartbeat within the timeout: derived, so a crashed replica cannot leave it stale. */
  toInfo(e: EndpointRow): EndpointInfo {
    const agent = AgentInfo.safeParse(e.agent);
    const status = HeartbeatPayload.safeParse(e.status);
    const online = this.isOnline(e);
    const last = status.success ? status.data : null;
    return {
      id: e.id,
      name: e.name,
      description: e.description,
      ownerId: e.ownerId,
      state: online ? 'online' : 'offline',
      allowedFunctions: e.restricted ? e.allowedFunctions : null,
      lastHeartbeatAt: e.lastHeartbeatAt?.toISOString() ?? null,
      connectedAt: e.connectedAt?.toISOString() ?? null,
      agent: agent.success ? agent.data : null,
      // an offline agent's last word (e.g. RUNNING) is not the truth now: it stays in lastStatus only
      status: online ? last : null,
      lastStatus: last,
      createdAt: e.createdAt.toISOString(),
    };
  }

  private isOnline(e: EndpointRow): boolean {
    return endpointOnline(e, this.config.FX_IDLE_HEARTBEAT_TIMEOUT_MS);
  }

  /** Endpoint names are unique per owner among live endpoints: a taken name is 409 CONFLICT. */
  async register(p: Principal, req: RegisterEndpointRequest): Promise<RegisterEndpointResponse> {
    if (looksLikeUuid(req.name))
      throw new FxException(
        'VALIDATION_FAILED',
        `an endpoint name may not look like an id ("${req.name}"): ids and names are both accepted wherever an endpoint is named`,
      );
    const taken = (existing: { id: string }) =>
      new FxException('CONFLICT', `you already have an endpoint named "${req.name}" (${existing.id}); delete it first or choose another name`);
    const existing = await this.endpoints.findLiveByName({ ownerId: p.userId }, req.name);
    if (existing) throw taken(existing);
    const quota = (live: number) => {
      if (live >= this.config.FX_MAX_ENDPOINTS_PER_USER)
        throw new FxException('QUOTA_EXCEEDED', `you have ${live} endpoints, the most allowed (FX_MAX_ENDPOINTS_PER_USER); delete one first`);
    };
    let e;
    try {
      e = await this.endpoints.create(
        {
          ownerId: p.userId,
          name: req.name,
          description: req.description ?? null,
          allowedFunctions: req.allowedFunctions ?? [],
          restricted: req.allowedFunctions !== undefined,
        },
        quota,
      );
    } catch (err) {
      // registered by a racing request between the check and the insert
      const winner = isUniqueViolation(err) ? await this.endpoints.findLiveByName({ ownerId: p.userId }, req.name) : null;
      if (winner) throw taken(winner);
      throw err;
    }
    const { token, row } = await this.auth.issue({ userId: p.userId, kind: 'endpoint', endpointId: e.id, name: `endpoint ${req.name}` });
    await this.audit.recordMany(p, [
      {
        action: 'endpoint.registered',
        target: { type: 'endpoint', id: e.id },
        ownerId: e.ownerId,
        details: { name: e.name, ...(e.restricted ? listed('allowedFunctions', e.allowedFunctions) : { allowedFunctions: null }) },
      },
      tokenIssued(row),
    ]);
    return { endpoint: this.toInfo(e), token };
  }

  /**
   * Owners see their endpoints; admins see all; anyone else gets 404, never 403, so ids don't leak.
   * The one place an endpoint reference (id, `name` among the caller's own, `owner/name`) is resolved.
   */
  async getOwned(p: Principal, ref: string, allowAdmin = true): Promise<EndpointRow> {
    const parsed = parseRef(ref);
    const e =
      'id' in parsed
        ? await this.endpoints.findLive(parsed.id)
        : await this.endpoints.findLiveByName(parsed.owner === undefined ? { ownerId: p.userId } : { ownerName: parsed.owner }, parsed.name);
    if (!e || !(e.ownerId === p.userId || (allowAdmin && p.admin))) throw endpointNotFound(ref);
    return e;
  }

  /** Endpoint ids for the distinct refs of a submission or a filter, each looked up once; unknown names are 404. */
  resolveIds(p: Principal, refs: Iterable<string>): Promise<Map<string, string>> {
    return resolveRefIds(refs, async (ref) => (await this.getOwned(p, ref)).id);
  }

  async get(p: Principal, id: string): Promise<EndpointInfo> {
    return this.toInfo(await this.getOwned(p, id));
  }

  async list(p: Principal): Promise<EndpointInfo[]> {
    return (await this.endpoints.listVisible(p.userId, p.admin)).map((e) => this.toInfo(e));
  }

  async status(p: Principal, ref: string): Promise<EndpointStatusResponse> {
    const info = this.toInfo(await this.getOwned(p, ref));
    const id = info.id;
    return {
      id,
      state: info.state,
      lastHeartbeatAt: info.lastHeartbeatAt,
      status: info.status,
      lastStatus: info.lastStatus,
      tasks: await this.tasks.countsForEndpoint(id),
    };
  }

  /** Deregisters: its tokens stop working, its agent is disconnected, its unfinished tasks fail. */
  async delete(p: Principal, ref: string): Promise<void> {
    const { id, name, ownerId } = await this.getOwned(p, ref);
    await this.endpoints.softDelete(id);
    const revoked = await this.tokens.revokeForEndpoint(id);
    const failed = await this.tasks.failForEndpoint(id, { code: 'ENDPOINT_DELETED', name: 'EndpointDeleted', message: `endpoint ${id} was deleted` });
    await this.audit.record(p, {
      action: 'endpoint.deleted',
      target: { type: 'endpoint', id },
      ownerId,
      details: { name, tokensRevoked: revoked.count, tasksFailed: failed.length },
    });
    await this.outcomes.published(failed);
    await this.events.publishEndpointGone(id);
  }

  /**
   * Changes the description or the allow-list. Tasks already queued that the new list refuses are left to
   * the agent's own check (they fail FUNCTION_NOT_ALLOWED there); the agent is reconnected at once so
   * that check uses the new list.
   */
  async update(p: Principal, ref: string, req: UpdateEndpointRequest): Promise<EndpointInfo> {
    const e = await this.getOwned(p, ref);
    const before = e.restricted ? e.allowedFunctions : null;
    const after = req.allowedFunctions === undefined ? before : req.allowedFunctions;
    const listChanged = JSON.stringify(before) !== JSON.stringify(after);
    const updated = await this.endpoints.update(e.id, {
      ...(req.description !== undefined ? { description: req.description } : {}),
      ...(listChanged ? { allowedFunctions: after ?? [], restricted: after !== null } : {}),
    });
    if (listChanged) {
      await this.audit.record(p, {
        action: 'endpoint.allowlist-changed',
        target: { type: 'endpoint', id: e.id },
        ownerId: e.ownerId,
        details: {
          name: e.name,
          ...(before ? listed('before', before) : { before: null }),
          ...(after ? listed('after', after) : { after: null }),
        },
      });
      this.events.noteEndpointChanged(e.id);
      await this.events.publishEndpointReconfigured(e.id);
    }
    return this.toInfo(updated);
  }

  /** A locked endpoint refuses new tasks with 409 ENDPOINT_LOCKED; tasks already queued still run. */
  async lock(p: Principal, ref: string, locked: boolean): Promise<ConsoleEndpoint> {
    const e = await this.getOwned(p, ref);
    const id = e.id;
    const changed = Boolean(e.lockedAt) !== locked;
    if (changed) {
      await this.endpoints.setLocked(id, locked);
      this.events.noteEndpointChanged(id);
    }
    await this.audit.record(p, {
      action: locked ? 'endpoint.locked' : 'endpoint.unlocked',
      target: { type: 'endpoint', id },
      ownerId: e.ownerId,
      details: { name: e.name, changed },
    });
    const [view] = await this.views({ ids: [id] });
    if (!view) throw FxException.notFound('endpoint', id);
    return view;
  }

  /** Console views of live endpoints (lock state, owner name, queue depth): two statements whatever their number. */
  async views(filter: { ids?: string[]; ownerId?: string }): Promise<ConsoleEndpoint[]> {
    const rows = await this.endpoints.findLiveWithOwner(filter);
    const counts = await this.tasks.countsByEndpoint(rows.map((r) => r.id));
    return rows.map((e) => this.toView(e, counts.get(e.id)!));
  }

  private toView(e: EndpointWithOwner, tasks: ConsoleEndpoint['tasks']): ConsoleEndpoint {
    return { ...this.toInfo(e), lockedAt: iso(e.lockedAt), ownerName: e.owner?.name ?? null, tasks };
  }

  /** Owners of these endpoints, deleted ones included. */
  owners(ids: string[]): Promise<Map<string, string>> {
    return this.endpoints.findOwners(ids);
  }

  /** Checks that the caller may submit to these endpoints (own them) and that each allows its functions. */
  async checkSubmission(
    p: Principal,
    pairs: Array<{ endpointId: string; functionId: string }>,
    read?: ReadonlyMap<string, EndpointRow>,
  ): Promise<{ offline: string[] }> {
    const ids = [...new Set(pairs.map((x) => x.endpointId))];
    // rows the submission's ref resolution has just read (live, by id) are not read again
    const rows = read && ids.every((id) => read.has(id)) ? ids.map((id) => read.get(id)!) : await this.endpoints.findManyLive(ids);
    const byId = new Map(rows.filter((e) => e.ownerId === p.userId).map((e) => [e.id, e]));
    const missing = ids.find((id) => !byId.has(id));
    if (missing) throw FxException.notFound('endpoint', missing);
    for (const { endpointId, functionId } of pairs) {
      const e = byId.get(endpointId)!;
      if (e.lockedAt) throw new FxException('ENDPOINT_LOCKED', `endpoint ${endpointId} is locked and takes no new tasks; unlock it to submit again`);
      if (e.restricted && !e.allowedFunctions.includes(functionId)) {
        throw new FxException('FUNCTION_NOT_ALLOWED', `endpoint ${endpointId} does not allow function ${functionId}`);
      }
    }
    return { offline: ids.filter((id) => !this.isOnline(byId.get(id)!)) };
  }
}

/**
 * Whether an endpoint's agent is connected and was heard from within `timeoutMs`: the callers pass
 * FX_IDLE_HEARTBEAT_TIMEOUT_MS, as an agent that holds no task is heard from only once an idle interval.
 */
export function endpointOnline(
  e: { connectedAt?: Date | null; disconnectedAt?: Date | null; lastHeartbeatAt?: Date | null },
  timeoutMs: number,
  now = Date.now(),
): boolean {
  const connected = e.connectedAt && (!e.disconnectedAt || e.disconnectedAt < e.connectedAt);
  return Boolean(connected && e.lastHeartbeatAt && now - e.lastHeartbeatAt.getTime() < timeoutMs);
}

function endpointNotFound(ref: string): FxException {
  if ('id' in parseRef(ref)) return FxException.notFound('endpoint', ref);
  return new FxException('NOT_FOUND', `no endpoint "${ref}" was found among the endpoints you may see (see GET /v1/endpoints)`);
}
