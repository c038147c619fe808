import { Injectable, Logger } from '@nestjs/common';
import { EventsService } from '../events/events.service.js';
import { QueueService } from '../tasks/queue.service.js';
import { EndpointRoutingService } from './endpoint-routing.service.js';
import { capacityOf, holdLimits, stealPlan, type MemberLoad } from './member-choice.js';
import { WorkStealingRepository } from './work-stealing.repository.js';

/**
 * How long an endpoint's group memberships are remembered. Joining a group forgets them on every replica
 * at once (`endpoint-groups-joined`); leaving needs no notice, as each steal reads the active members.
 */
const MEMBERSHIP_TTL_MS = 60_000;
/** Endpoints whose memberships are remembered at most (past it the cache starts afresh). */
const MEMBERSHIP_CACHE = 10_000;

/**
 * `ungrouped`: the endpoint is in no group (nothing to steal from, ever, until it joins one); `busy`: its
 * workers are all taken, so it waits for its next credits; `nothing`: no other member has a surplus it
 * may take.
 */
export type StealOutcome = { stolen: number } | 'ungrouped' | 'busy' | 'nothing';

/**
 * Work stealing among endpoint group members: a member whose agent has credits and nothing queued takes
 * waiting tasks of its groups from members with more waiting than they have free workers (member-choice
 * stealPlan), up to the workers it has idle, and queues them on itself. The dispatcher asks when its
 * queue runs dry (DispatchService); only waiting tasks move, in one conditional UPDATE, so a task is
 * leased once (WorkStealingRepository).
 */
@Injectable()
export class WorkStealingService {
  private readonly logger = new Logger('EndpointGroups');
  private readonly memberships = new Map<string, { groups: string[]; until: number }>();

  constructor(
    private readonly repo: WorkStealingRepository,
    private readonly routing: EndpointRoutingService,
    private readonly queue: QueueService,
    private readonly events: EventsService,
  ) {}

  /** These endpoints just became active members of a group: every replica forgets their memberships and wakes their agents. */
  async joined(endpointIds: string[]): Promise<void> {
    if (endpointIds.length) await this.events.publish('endpoint-groups-joined', { endpointIds });
  }

  forget(endpointIds: string[]): void {
    for (const id of endpointIds) this.memberships.delete(id);
  }

  /** The live groups each endpoint is an active member of, remembered for MEMBERSHIP_TTL_MS. */
  async groupsOf(endpointIds: string[]): Promise<Map<string, string[]>> {
    const now = Date.now();
    const out = new Map<string, string[]>();
    const missing: string[] = [];
    for (const id of new Set(endpointIds)) {
      const hit = this.memberships.get(id);
      if (hit && hit.until > now) out.set(id, hit.groups);
      else missing.push(id);
    }
    if (missing.length === 0) return out;
    const found = new Map<string, string[]>(missing.map((id) => [id, []]));
    for (const r of await this.repo.memberships(missing)) found.get(r.endpoint_id)?.push(r.group_id);
    if (this.memberships.size + found.size > MEMBERSHIP_CACHE) this.memberships.clear();
    for (const [id, groups] of found) {
      this.memberships.set(id, { groups, until: now + MEMBERSHIP_TTL_MS });
      out.set(id, groups);
    }
    return out;
  }

  /** Takes waiting tasks from other members for this endpoint, whose agent has `credits` left and an empty queue. */
  async steal(endpointId: string, credits: number): Promise<StealOutcome> {
    const groups = (await this.groupsOf([endpointId])).get(endpointId) ?? [];
    if (groups.length === 0) return 'ungrouped';
    let me: MemberLoad | undefined;
    const mine: string[] = [];
    const members = new Map<string, MemberLoad>();
    for (const [groupId, loads] of await this.routing.loadsByGroup(groups)) {
      const self = loads.find((m) => m.endpointId === endpointId);
      if (!self) continue;
      me = self;
      mine.push(groupId);
      for (const m of loads) members.set(m.endpointId, m);
    }
    if (!me) return 'nothing';
    // up to its idle workers, not its credits: an agent's prefetch would hold stolen tasks it cannot start,
    // and held tasks never move again
    const room = Math.min(credits, capacityOf(me) - (await this.repo.held(endpointId)));
    if (room <= 0) return 'busy';
    const from = stealPlan(endpointId, [...members.values()], room);
    if (from.length === 0) return 'nothing';
    const rows = await this.repo.steal({
      endpointId,
      groupIds: mine,
      from,
      allowedFunctions: me.allowedFunctions,
      limits: holdLimits(me.status),
      // said in its hello or its heartbeat (member-choice mayRun): before its first heartbeat, the hello alone says it
      ownerOnly: me.ownerOnly || me.status?.ownerOnly ? me.ownerId : null,
      ownerId: me.ownerId,
    });
    if (rows.length === 0) return 'nothing';
    this.logger.log({ msg: 'took waiting tasks from busier members of its endpoint groups', endpointId, stolen: rows.length });
    await this.queue.enqueue(rows);
    return { stolen: rows.length };
  }
}
