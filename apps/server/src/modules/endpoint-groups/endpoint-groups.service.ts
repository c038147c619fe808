import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import {
  MAX_ENDPOINT_GROUPS_PER_USER,
  MAX_ENDPOINT_GROUP_MEMBERS,
  parseRef,
  type CreateEndpointGroupRequest,
  type EndpointGroupInfo,
  type EndpointGroupMember,
  type EndpointInvitation,
} from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { FxException } from '../../common/fx.exception.js';
import { isUniqueViolation } from '../../common/unique-violation.js';
import type { Principal } from '../auth/principal.js';
import { EndpointsRepository } from '../endpoints/endpoints.repository.js';
import { EndpointsService, endpointOnline, type EndpointRow } from '../endpoints/endpoints.service.js';
import { EndpointGroupsRepository, type GroupRow, type MemberRow } from './endpoint-groups.repository.js';
import { EndpointRoutingService } from './endpoint-routing.service.js';
import { WorkStealingService } from './work-stealing.service.js';
import { AuditService, type AuditRecord } from '../audit/audit.service.js';
import { LeaseService } from '../leases/lease.service.js';
import { EventsService } from '../events/events.service.js';

/** Where a submission's endpoint ref points: one endpoint, or an endpoint group. */
/** An endpoint comes with the row its lookup read, for the submission's checks (EndpointsService.checkSubmission). */
export type SubmitTarget = { endpointId: string; endpoint: EndpointRow } | { groupId: string };

/**
 * Endpoint groups: who may make them, which endpoints join (the owner's own at once, another user's
 * when that user accepts), and what a group's owner sees. Another user's group is a 404, and adding
 * another user's endpoint answers the same whether that endpoint exists or not.
 */
@Injectable()
export class EndpointGroupsService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_IDLE_HEARTBEAT_TIMEOUT_MS'>,
    private readonly groups: EndpointGroupsRepository,
    private readonly endpoints: EndpointsService,
    private readonly endpointRows: EndpointsRepository,
    private readonly routing: EndpointRoutingService,
    private readonly stealing: WorkStealingService,
    private readonly audit: AuditService,
    private readonly leases: LeaseService,
    private readonly events: EventsService,
  ) {}

  async create(p: Principal, req: CreateEndpointGroupRequest): Promise<EndpointGroupInfo> {
    const members = req.members ?? [];
    // members are resolved before anything is stored: an unknown name of yours fails the whole request
    const resolved = await Promise.all(members.map((ref) => this.memberOf(p, ref)));
    const taken = (id: string) =>
      new FxException('CONFLICT', `you already have an endpoint group named "${req.name}" (${id}); delete it first or choose another name`);
    const existing = await this.groups.findLiveByName(p.userId, req.name);
    if (existing) throw taken(existing.id);
    const id = randomUUID();
    try {
      await this.groups.create({ id, ownerId: p.userId, name: req.name }, (live) => {
        if (live >= MAX_ENDPOINT_GROUPS_PER_USER)
          throw new FxException(
            'QUOTA_EXCEEDED',
            `you have ${live} endpoint groups, the most a user may have (${MAX_ENDPOINT_GROUPS_PER_USER}): delete one first`,
          );
      });
    } catch (e) {
      const winner = isUniqueViolation(e) ? await this.groups.findLiveByName(p.userId, req.name) : null;
      if (winner) throw taken(winner.id);
      throw e;
    }
    for (const m of resolved) await this.groups.addMember(id, m.endpointId, m.state);
    await this.stealing.joined(resolved.filter((m) => m.state === 'active').map((m) => m.endpointId));
    await this.audit.record(p, {
      action: 'endpoint-group.created',
      target: { type: 'endpoint-group', id },
      ownerId: p.userId,
      details: { name: req.name, members: resolved.map((m) => ({ endpointId: m.endpointId, state: m.state })) },
    });
    return this.get(p, id);
  }

  async list(p: Principal): Promise<EndpointGroupInfo[]> {
    const rows = await this.groups.list(p.userId, MAX_ENDPOINT_GROUPS_PER_USER);
    return this.toInfos(p, rows);
  }

  async get(p: Principal, ref: string): Promise<EndpointGroupInfo> {
    return (await this.toInfos(p, [await this.getOwned(p, ref)]))[0]!;
  }

  /** Tasks already sent to it stay with the members chosen for them. */
  async delete(p: Principal, ref: string): Promise<void> {
    const g = await this.getOwned(p, ref);
    await this.groups.softDelete(g.id);
    await this.audit.record(p, {
      action: 'endpoint-group.deleted',
      target: { type: 'endpoint-group', id: g.id },
      ownerId: g.owner_id,
      details: { name: g.name },
    });
  }

  async addMember(p: Principal, ref: string, endpointRef: string): Promise<EndpointGroupInfo> {
    const g = await this.getOwned(p, ref);
    const m = await this.memberOf(p, endpointRef);
    if (!(await this.groups.membership(g.id, m.endpointId)) && (await this.groups.countMembers(g.id)) >= MAX_ENDPOINT_GROUP_MEMBERS) {
      throw new FxException('QUOTA_EXCEEDED', `endpoint group ${g.id} has ${MAX_ENDPOINT_GROUP_MEMBERS} members, the most a group may have`);
    }
    await this.groups.addMember(g.id, m.endpointId, m.state);
    if (m.state === 'active') await this.stealing.joined([m.endpointId]);
    // state active: the group owner's own endpoint, which joins at once
    await this.audit.record(p, member('endpoint-group.member-invited', g, m.endpointId, { state: m.state }));
    return this.get(p, g.id);
  }

  /**
   * The group's owner removes any member; an endpoint's owner removes their endpoint from any group
   * (its consent ends). Either way, the group's tasks waiting on it or held by its agent move to the
   * other members.
   */
  async removeMember(p: Principal, ref: string, endpointId: string): Promise<void> {
    const parsed = parseRef(ref);
    const g = 'id' in parsed ? await this.groups.findLive(parsed.id) : await this.groups.findLiveByName(p.userId, parsed.name);
    const endpoint = await this.endpointRows.findLive(endpointId);
    const ownsGroup = g?.owner_id === p.userId;
    const ownsEndpoint = endpoint?.ownerId === p.userId;
    if (!g || !(ownsGroup || (ownsEndpoint && (await this.groups.membership(g.id, endpointId))))) throw groupNotFound(ref);
    if (!(await this.groups.removeMember(g.id, endpointId))) throw FxException.notFound('member', endpointId);
    // what its agent holds comes back too (it is told to stop those), then everything moves on
    const taken = await this.leases.takeBack(g.id, endpointId);
    if (taken.length) await this.events.publish('cancel', { endpointId, taskIds: taken });
    await this.routing.rehome([endpointId]);
    await this.audit.record(p, member('endpoint-group.member-removed', g, endpointId, { by: ownsGroup ? 'group-owner' : 'endpoint-owner' }));
  }

  /** The endpoint's owner accepts an invitation: the endpoint becomes an active member. */
  async accept(p: Principal, groupId: string, endpointId: string): Promise<void> {
    const g = await this.ownInvitation(p, groupId, endpointId);
    await this.groups.accept(groupId, endpointId);
    await this.stealing.joined([endpointId]);
    await this.audit.record(p, member('endpoint-group.member-accepted', g, endpointId));
  }

  /** The endpoint's owner declines an invitation: it is removed. */
  async decline(p: Principal, groupId: string, endpointId: string): Promise<void> {
    const g = await this.ownInvitation(p, groupId, endpointId);
    await this.groups.removeMember(groupId, endpointId);
    await this.audit.record(p, member('endpoint-group.member-declined', g, endpointId));
  }

  async invitations(p: Principal): Promise<EndpointInvitation[]> {
    return (await this.groups.invitations(p.userId, 1_000)).map((r) => ({
      groupId: r.group_id,
      groupName: r.group_name,
      ownerId: r.owner_id,
      ownerName: r.owner_name,
      endpointId: r.endpoint_id,
      endpointName: r.endpoint_name,
      invitedAt: r.added_at.toISOString(),
    }));
  }

  /**
   * What a submission's endpoint ref names: an endpoint of the caller (as before), or else one of the
   * caller's endpoint groups. An endpoint wins over a group of the same name. Each distinct ref is
   * looked up once; a ref that is neither is the endpoint's 404.
   */
  async resolveTargets(p: Principal, refs: Iterable<string>): Promise<Map<string, SubmitTarget>> {
    const out = new Map<string, SubmitTarget>();
    await Promise.all(
      [...new Set(refs)].map(async (ref) => {
        try {
          const endpoint = await this.endpoints.getOwned(p, ref);
          out.set(ref, { endpointId: endpoint.id, endpoint });
        } catch (e) {
          if (!(e instanceof FxException && e.code === 'NOT_FOUND')) throw e;
          const g = await this.findOwned(p, ref);
          if (!g) throw e;
          out.set(ref, { groupId: g.id });
        }
      }),
    );
    return out;
  }

  private async findOwned(p: Principal, ref: string): Promise<GroupRow | null> {
    const parsed = parseRef(ref);
    if (!('id' in parsed) && (parsed.owner !== undefined || parsed.version !== undefined)) return null;
    const g = 'id' in parsed ? await this.groups.findLive(parsed.id) : await this.groups.findLiveByName(p.userId, parsed.name);
    return g && g.owner_id === p.userId ? g : null;
  }

  private async getOwned(p: Principal, ref: string): Promise<GroupRow> {
    const g = await this.findOwned(p, ref);
    if (!g) throw groupNotFound(ref);
    return g;
  }

  /**
   * The caller's own endpoint (by id or name) joins active; any other id is invited, whether or not
   * such an endpoint exists (an invitation nobody can see or accept is harmless, and saying "no such
   * endpoint" would tell which ids exist).
   */
  private async memberOf(p: Principal, ref: string): Promise<{ endpointId: string; state: 'active' | 'invited' }> {
    const parsed = parseRef(ref);
    if (!('id' in parsed)) return { endpointId: (await this.endpoints.getOwned(p, ref, false)).id, state: 'active' };
    const e = await this.endpointRows.findLive(parsed.id);
    return { endpointId: parsed.id, state: e?.ownerId === p.userId ? 'active' : 'invited' };
  }

  /** An invitation of the caller's endpoint into a live group; anything else is 404. */
  private async ownInvitation(p: Principal, groupId: string, endpointId: string): Promise<GroupRow> {
    const e = await this.endpointRows.findLive(endpointId);
    const m = e?.ownerId === p.userId ? await this.groups.membership(groupId, endpointId) : null;
    const g = m?.state === 'invited' ? await this.groups.findLive(groupId) : null;
    if (!g) throw new FxException('NOT_FOUND', `no invitation of endpoint ${endpointId} into endpoint group ${groupId} was found among yours`);
    return g;
  }

  private async toInfos(p: Principal, rows: GroupRow[]): Promise<EndpointGroupInfo[]> {
    const members = await this.groups.members(rows.map((g) => g.id));
    return rows.map((g) => ({
      id: g.id,
      ownerId: g.owner_id,
      name: g.name,
      createdAt: g.created_at.toISOString(),
      members: members.filter((m) => m.group_id === g.id).map((m) => this.toMember(m)),
    }));
  }

  private toMember(m: MemberRow): EndpointGroupMember {
    // an invited endpoint is still its owner's alone: its id, nothing read from its row
    const visible = m.state === 'active' && m.endpoint_owner_id !== null;
    return {
      endpointId: m.endpoint_id,
      state: m.state === 'active' ? 'active' : 'invited',
      name: visible ? m.endpoint_name : null,
      online: visible
        ? endpointOnline(
            { connectedAt: m.connected_at, disconnectedAt: m.disconnected_at, lastHeartbeatAt: m.last_heartbeat_at },
            this.config.FX_IDLE_HEARTBEAT_TIMEOUT_MS,
          )
        : null,
      addedAt: m.added_at.toISOString(),
    };
  }
}

/** A membership action: about the group (its owner's thing), naming the endpoint. */
function member(action: AuditRecord['action'], g: GroupRow, endpointId: string, more: Record<string, unknown> = {}): AuditRecord {
  return { action, target: { type: 'endpoint-group', id: g.id }, ownerId: g.owner_id, details: { name: g.name, endpointId, ...more } };
}

function groupNotFound(ref: string): FxException {
  if ('id' in parseRef(ref)) return FxException.notFound('endpoint group', ref);
  return new FxException('NOT_FOUND', `no endpoint group "${ref}" was found among yours (see GET /v1/endpoint-groups)`);
}
