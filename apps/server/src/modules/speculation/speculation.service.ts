import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { PeriodicTask } from '../../common/periodic-task.js';
import { EventsService } from '../events/events.service.js';
import { LeaseService } from '../leases/lease.service.js';
import { CopiesRepository, type EndedCopy } from './copies.repository.js';
import { CopyPlacement } from './copy-placement.js';
import { CopyPlacementsRepository } from './copy-placements.repository.js';

/** Most copies one group launches per sweep. */
const MAX_LAUNCH_PER_GROUP = 1_000;
/** A group stops being looked at only after this long without new tasks (tasks being inserted are not missed). */
const GROUP_QUIET_MS = 30_000;
/**
 * Groups one sweep looks at, the next page of a round over all of them: one user's million groups
 * waiting on an endpoint that is away cost each sweep one statement over a page, not a million, and
 * every group's turn still comes.
 */
export const GROUPS_PER_SWEEP = 500;
/**
 * With no copy and no group asking for speculation, the timer looks once in this many intervals (a
 * replica idle for days asked PostgreSQL every second); a group that asks wakes every replica's look
 * at once ('speculation-asked'), so stragglers are looked for each interval from then on.
 */
export const IDLE_LOOK_EVERY = 5;

/**
 * Speculative execution (issue 16). Every FX_SPECULATION_INTERVAL_MS each replica: ends copies whose
 * task became final (their agents are told to stop them) or whose lease ran out; then, for each group
 * of the next page of its round (GROUPS_PER_SWEEP) that asked for speculation and has a task running,
 * launches one copy of each running task of an idempotent function that ran `afterFactor` times the
 * median runtime of the group's succeeded tasks; then wakes the replicas holding the agents that have copies waiting. Off the hot path: without
 * copies and groups asking for speculation, a sweep is one read of two partial indexes holding nothing.
 */
@Injectable()
export class SpeculationService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Speculation');
  private readonly sweeper = new PeriodicTask(() => this.launchCopies());
  /** Timer ticks left to skip: the last look found nothing to do. */
  private idleTicks = 0;
  /** 'speculation-asked' events heard: one heard during a look that found nothing means look again. */
  private asked = 0;
  /** Where the round over speculating groups goes on (the last group of the last page; null: from the start). */
  private cursor: string | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_SPECULATION_INTERVAL_MS'>,
    private readonly copies: CopiesRepository,
    private readonly events: EventsService,
    private readonly placement: CopyPlacement,
    private readonly leases: LeaseService,
    private readonly placements: CopyPlacementsRepository,
  ) {}

  onApplicationBootstrap(): void {
    this.events.on('speculation-asked', () => {
      this.asked++;
      this.idleTicks = 0;
    });
    this.sweeper.start(this.config.FX_SPECULATION_INTERVAL_MS, () => this.skipTick());
  }

  onModuleDestroy(): void {
    this.sweeper.stop();
  }

  /** One sweep; a sweep still under way (a slow database) is not run twice. Returns the copies launched. */
  async sweep(): Promise<number> {
    return (await this.sweeper.runOnce()) ?? 0;
  }

  private skipTick(): boolean {
    if (this.idleTicks <= 0) return false;
    this.idleTicks--;
    return true;
  }

  private async launchCopies(): Promise<number> {
    const asked = this.asked;
    try {
      // nothing to end, launch or announce: the usual case, one statement instead of three, and the
      // timer's next looks skipped until a group asks
      if (!(await this.copies.anyActive())) {
        if (asked === this.asked) this.idleTicks = IDLE_LOOK_EVERY - 1;
        return 0;
      }
      const ended = await this.copies.endStale();
      await this.cancelEnded(ended);
      if (ended.length > 0) await this.leases.copiesEnded(ended.map((c) => c.task_id));
      let launched = await this.placeRefusedAgain();
      const page = await this.copies.speculatingGroups(this.cursor, GROUPS_PER_SWEEP);
      this.cursor = page.length < GROUPS_PER_SWEEP ? null : page.at(-1)!.id;
      const settled: string[] = [];
      for (const g of page) {
        if (!g.running) {
          settled.push(g.id);
          continue;
        }
        const stragglers = await this.copies.stragglers(g.id, g.speculation, MAX_LAUNCH_PER_GROUP);
        if (stragglers.length > 0) {
          const placed = await Promise.all(
            stragglers.map(async (t) => ({ taskId: t.id, attempt: t.attempt, endpointId: await this.placement.endpointFor(t) })),
          );
          const rows = await this.copies.launch(placed);
          if (rows.length > 0)
            this.logger.log({
              msg: 'stragglers get speculative copies',
              groupId: g.id,
              launched: rows.length,
              taskIds: rows.slice(0, 10).map((r) => r.task_id),
            });
          launched += rows.length;
        } else settled.push(g.id);
      }
      await this.copies.settleGroups(settled, GROUP_QUIET_MS);
      const endpointIds = await this.copies.endpointsWithQueuedCopies();
      if (endpointIds.length > 0) await this.events.publish('speculate', { endpointIds });
      return launched;
    } catch (e) {
      this.logger.error({ msg: `the speculation sweep failed; the next one tries again: ${(e as Error).message}` });
      return 0;
    }
  }

  /**
   * Copies a member refused before they ran (at their grant: its agent runs only its owner's tasks now;
   * or by its agent's intake: its allow-list, hash check or isolation, see REFUSAL_CODES) go to another
   * member that may run them, if the group has one; a task still has one copy at a time (its one row),
   * placed at most MAX_COPY_PLACEMENTS times. Those placed no more leave their task to its original, or
   * requeue it when that was given up beside the copy. Returns the copies placed again.
   */
  private async placeRefusedAgain(): Promise<number> {
    let placed = 0;
    const placedNoMore: string[] = [];
    for (const c of await this.placements.refused(MAX_LAUNCH_PER_GROUP)) {
      if (await this.placements.replace(c, await this.placement.otherMember(c, c.refused_by))) placed++;
      else placedNoMore.push(c.id);
    }
    if (placedNoMore.length > 0) await this.leases.copiesEnded(placedNoMore);
    return placed;
  }

  /** Agents still running copies that ended here stop them (only the copy: the original may still run). */
  private async cancelEnded(ended: EndedCopy[]): Promise<void> {
    const byEndpoint = new Map<string, string[]>();
    for (const c of ended) {
      if (c.connection_id === null) continue;
      byEndpoint.set(c.endpoint_id, [...(byEndpoint.get(c.endpoint_id) ?? []), c.task_id]);
    }
    for (const [endpointId, taskIds] of byEndpoint) await this.events.publish('cancel', { endpointId, taskIds, copy: true });
  }
}
