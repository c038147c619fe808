import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { HeartbeatPayload, type TaskResources } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { PeriodicTask } from '../../common/periodic-task.js';
import { FxException } from '../../common/fx.exception.js';
import { endpointOnline } from '../endpoints/endpoints.service.js';
import { OutcomesService } from '../dependencies/outcomes.service.js';
import { ObjectLocality } from '../objects/object-locality.js';
import { QueueService } from '../tasks/queue.service.js';
import { RequeueHooks } from '../events/requeue-hooks.js';
import { chooseMembers, mayRun, type MemberLoad, type Refusal, type TaskToPlace } from './member-choice.js';
import { EndpointRoutingRepository, type MemberLoadRow } from './endpoint-routing.repository.js';

/** Waiting tasks one reroute of one member looks at; the sweep comes back for more. */
const REHOME_PAGE = 5_000;
/** Stranded members one sweep reroutes. */
const SWEEP_MEMBERS = 100;

export interface GroupedTask extends TaskToPlace {
  groupId: string;
}

/**
 * Which member of an endpoint group a task goes to (member-choice.ts), and moving waiting tasks off a
 * member that went away: at once when its agent disconnects here or its owner takes it out of the
 * group, and by a sweep for what that missed (another replica's agent, a crash, leases that ran out
 * and put tasks back on an offline member). Only waiting tasks move: a dispatched task comes back
 * only through its lease (DESIGN.md invariant 3), so no task runs on two members at once.
 */
@Injectable()
export class EndpointRoutingService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('EndpointGroups');
  private readonly sweeper = new PeriodicTask(() => this.rehomeStranded());

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_SWEEP_INTERVAL_MS' | 'FX_IDLE_HEARTBEAT_TIMEOUT_MS'>,
    private readonly routing: EndpointRoutingRepository,
    private readonly queue: QueueService,
    private readonly outcomes: OutcomesService,
    private readonly locality: ObjectLocality,
    private readonly hooks: RequeueHooks,
  ) {}

  onApplicationBootstrap(): void {
    this.hooks.onRequeued((endpointIds) => this.rehome(endpointIds));
    this.sweeper.start(this.config.FX_SWEEP_INTERVAL_MS);
  }

  onModuleDestroy(): void {
    this.sweeper.stop();
  }

  /**
   * A member for each task sent to a group, in order; refuses the submission when a group has no
   * active member, none that allows a task's function, or none that may run it (another user's task on
   * members without bubblewrap, a pickle task on members of other users). `offline` lists the groups
   * none of whose members is online (their tasks wait on one until rerouting moves them).
   */
  async route(tasks: GroupedTask[]): Promise<{ endpointIds: string[]; offline: string[] }> {
    const loads = await this.loadsByGroup([...new Set(tasks.map((t) => t.groupId))]);
    const out = new Array<string>(tasks.length);
    const offline = new Set<string>();
    for (const [groupId, members] of loads) {
      const idx = tasks.flatMap((t, i) => (t.groupId === groupId ? [i] : []));
      const choices = chooseMembers(
        members,
        idx.map((i) => tasks[i]!),
        (ep, owner, sha) => owner !== undefined && this.locality.holds(ep, owner, sha),
      );
      choices.forEach((c, k) => {
        if ('refused' in c) throw refusal(groupId, tasks[idx[k]!]!.functionId, c.refused);
        out[idx[k]!] = c.endpointId;
      });
      if (!members.some((m) => m.online)) offline.add(groupId);
    }
    return { endpointIds: out, offline: [...offline] };
  }

  /**
   * For another copy of a task (speculation): the member of the group that would take it now, other
   * than those excluded; null when the group has no other online member that allows the function.
   */
  async pickMember(
    groupId: string,
    exclude: string[],
    task: { ownerId: string; pickled: boolean; functionId: string; resources?: TaskResources | null; objects?: string[] },
  ): Promise<string | null> {
    const members = ((await this.loadsByGroup([groupId])).get(groupId) ?? []).filter((m) => !exclude.includes(m.endpointId) && m.online);
    const [choice] = chooseMembers(members, [task], (ep, owner, sha) => owner !== undefined && this.locality.holds(ep, owner, sha));
    return choice && 'endpointId' in choice ? choice.endpointId : null;
  }

  /**
   * Moves the grouped tasks waiting on these endpoints to other members, when the endpoint is offline or
   * no longer an active member of the task's group. An online member keeps its tasks, but those it may
   * not run (another user's, on an agent that said `ownerOnly` when it connected: routed there before it
   * was heard from). A task whose group has no other member that allows it stays (offline), fails
   * ENDPOINT_UNAVAILABLE (the member left) or ISOLATION_REQUIRED (no member may run it). `notOwnedBy`
   * (an owner-only member that just connected, its owner): only other users' tasks are looked at.
   */
  async rehome(endpointIds: string[], o: { notOwnedBy?: string } = {}): Promise<number> {
    let moved = 0;
    for (const endpointId of endpointIds) {
      const waiting = await this.routing.waitingOn(endpointId, REHOME_PAGE, o.notOwnedBy ?? null);
      if (waiting.length === 0) continue;
      const loads = await this.loadsByGroup([...new Set(waiting.map((t) => t.endpoint_group_id))]);
      const moves: Array<{ id: string; from: string; to: string }> = [];
      const orphans: string[] = [];
      const refused: string[] = [];
      for (const [groupId, members] of loads) {
        const here = members.find((m) => m.endpointId === endpointId);
        const others = members.filter((m) => m.endpointId !== endpointId);
        const ofGroup = waiting.filter((t) => t.endpoint_group_id === groupId);
        const tasks = here?.online ? ofGroup.filter((t) => !mayRun(here, { ownerId: t.owner_id })) : ofGroup;
        if (tasks.length === 0) continue;
        // nowhere better: an offline member keeps its tasks until some member is online
        if (here && !here.online && !others.some((m) => m.online)) continue;
        const choices = chooseMembers(
          others,
          tasks.map((t) => ({
            ownerId: t.owner_id,
            pickled: t.serializer === 'pickle',
            functionId: t.function_id,
            resources: t.resources,
            objects: t.contents,
          })),
          (ep, owner, sha) => owner !== undefined && this.locality.holds(ep, owner, sha),
        );
        choices.forEach((c, i) => {
          if ('endpointId' in c) moves.push({ id: tasks[i]!.id, from: endpointId, to: c.endpointId });
          else if (!here) orphans.push(tasks[i]!.id);
          else if (here.online) refused.push(tasks[i]!.id);
        });
      }
      const rows = await this.routing.move(moves);
      moved += rows.length;
      if (rows.length) {
        this.logger.log({ msg: 'moved waiting tasks of endpoint groups off a member that is away', endpointId, moved: rows.length });
        await this.queue.enqueue(rows);
      }
      if (orphans.length) {
        const failed = await this.routing.failWaiting(orphans, {
          code: 'ENDPOINT_UNAVAILABLE',
          name: 'EndpointUnavailable',
          message: `endpoint ${endpointId} left the task's endpoint group (or was deleted), and no other member may run it`,
        });
        await this.outcomes.published(failed);
      }
      if (refused.length) {
        const failed = await this.routing.failWaiting(refused, {
          code: 'ISOLATION_REQUIRED',
          name: 'IsolationRequired',
          message: `endpoint ${endpointId} runs tasks without bubblewrap, so it runs only its owner's, and no other member of the task's endpoint group may run this one`,
        });
        await this.outcomes.published(failed);
      }
    }
    return moved;
  }

  /**
   * An agent that runs only its owner's tasks (`ownerOnly`) has other users' tasks waiting on its
   * endpoint (routed before it was heard from): they move to members that may run them. Never throws:
   * its lease grant leases it none of them meanwhile, and the repair sweep finds what a failure left.
   */
  async rehomeForeign(endpointId: string, ownerId: string): Promise<void> {
    try {
      await this.rehome([endpointId], { notOwnedBy: ownerId });
    } catch (e) {
      this.logger.warn({ msg: `rerouting other users' tasks off an owner-only agent failed; the sweep retries: ${(e as Error).message}`, endpointId });
    }
  }

  /** The repair path: members that went away unnoticed here (another replica's agent, leases that ran out). */
  async sweep(): Promise<void> {
    await this.sweeper.runOnce();
  }

  private async rehomeStranded(): Promise<void> {
    try {
      const stranded = await this.routing.stranded(this.config.FX_IDLE_HEARTBEAT_TIMEOUT_MS, SWEEP_MEMBERS);
      if (stranded.length) await this.rehome(stranded);
    } catch (e) {
      this.logger.error(`endpoint group sweep failed; the next one retries: ${(e as Error).message}`);
    }
  }

  /** The active members of these live groups, as routing weighs them (work stealing reads them too). */
  async loadsByGroup(groupIds: string[]): Promise<Map<string, MemberLoad[]>> {
    const byGroup = new Map<string, MemberLoad[]>(groupIds.map((g) => [g, []]));
    for (const r of await this.routing.memberLoads(groupIds)) byGroup.get(r.group_id)?.push(this.toLoad(r));
    return byGroup;
  }

  private toLoad(r: MemberLoadRow): MemberLoad {
    const status = HeartbeatPayload.safeParse(r.status);
    return {
      endpointId: r.endpoint_id,
      ownerId: r.owner_id,
      online: endpointOnline(
        { connectedAt: r.connected_at, disconnectedAt: r.disconnected_at, lastHeartbeatAt: r.last_heartbeat_at },
        this.config.FX_IDLE_HEARTBEAT_TIMEOUT_MS,
      ),
      allowedFunctions: r.restricted ? r.allowed_functions : null,
      status: status.success ? status.data : null,
      ...(r.owner_only ? { ownerOnly: true } : {}),
      waiting: r.waiting,
    };
  }
}

function refusal(groupId: string, functionId: string, why: Refusal): FxException {
  if (why === 'PICKLE_FOREIGN')
    return new FxException(
      'FORBIDDEN',
      `a task with serializer "pickle" runs only on your own members of endpoint group ${groupId}: its result is unpickled on your machine, and unpickling runs whatever code another user's endpoint put in it; send its arguments as JSON, or add an endpoint of yours that allows function ${functionId}`,
    );
  if (why === 'ISOLATION_REQUIRED')
    return new FxException(
      'ISOLATION_REQUIRED',
      `no member of endpoint group ${groupId} that allows function ${functionId} may run another user's tasks: their agents run tasks without bubblewrap, so they run only their owners' (install bubblewrap there, or add a member that has it)`,
    );
  if (why === 'NO_MEMBERS')
    return new FxException('CONFLICT', `endpoint group ${groupId} has no active member to run tasks on: add an endpoint, or wait for an invited one to accept`);
  return new FxException('FUNCTION_NOT_ALLOWED', `no member of endpoint group ${groupId} allows function ${functionId}`);
}
