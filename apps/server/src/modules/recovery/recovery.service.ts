import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { PeriodicTask } from '../../common/periodic-task.js';
import { BROKER } from '../../storage/storage.module.js';
import type { Broker } from '../../storage/broker.js';
import { GroupsRepository } from '../groups/groups.repository.js';
import { TasksRepository } from '../tasks/tasks.repository.js';
import { EventsService } from '../events/events.service.js';
import { OutcomesService } from '../dependencies/outcomes.service.js';
import { DependenciesService } from '../dependencies/dependencies.service.js';
import { CacheService } from '../cache/cache.service.js';
import { QueueService } from '../tasks/queue.service.js';
import { LeaseService } from '../leases/lease.service.js';
import { RetriesService } from '../retries/retries.service.js';
import { AGENT_CONNECTIONS, type AgentConnections } from './agent-connections.js';

const REBUILD_PAGE = 5_000;
const PURGE_EVERY_SWEEPS = 30;
/** Dependents whose inputs ended while nobody moved them (a crash between the two) are looked for this often, and after a failure. */
const DEPENDENCY_REPAIR_EVERY_SWEEPS = 5;

/**
 * The repair paths (never the hot path): requeue tasks whose agent vanished, queue retries whose
 * backoff ended (the backstop of RetriesService's timer, and after a restart), return delivery leases
 * of dead replicas, purge expired results, move on dependents whose inputs ended unnoticed (a crash
 * between the two), and rebuild the broker's queues from PostgreSQL on start and whenever the broker
 * reports lost state.
 */
@Injectable()
export class RecoveryService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Recovery');
  private readonly sweeper = new PeriodicTask(() => this.repair());
  private sweeps = 0;
  private rebuildNeeded = false;

  constructor(
    @Inject(APP_CONFIG)
    private readonly config: Pick<AppConfig, 'FX_SWEEP_INTERVAL_MS' | 'FX_QUEUE_TTL_SECONDS' | 'FX_BROKER_RECLAIM_MS' | 'FX_RESULT_RETENTION_SECONDS'>,
    @Inject(BROKER) private readonly broker: Broker,
    private readonly tasks: TasksRepository,
    private readonly groups: GroupsRepository,
    private readonly events: EventsService,
    private readonly outcomes: OutcomesService,
    private readonly dependencies: DependenciesService,
    private readonly cache: CacheService,
    private readonly queue: QueueService,
    private readonly leases: LeaseService,
    private readonly retries: RetriesService,
    /** Endpoints this replica serves, for reclaiming their stale delivery leases. */
    @Inject(AGENT_CONNECTIONS) private readonly connections: AgentConnections,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.broker.onStateLost(() => {
      this.logger.warn('the broker lost its state; rebuilding the queues from PostgreSQL');
      this.rebuildNeeded = true;
      void this.sweep();
    });
    await this.leases.renewAfterStart();
    await this.rebuild();
    await this.dependencies.repair();
    await this.outcomes.published(await this.cache.repair());
    await this.retries.sweep();
    this.sweeper.start(this.config.FX_SWEEP_INTERVAL_MS);
  }

  onModuleDestroy(): void {
    this.sweeper.stop();
  }

  /** One sweep, unless one is under way. */
  async sweep(): Promise<void> {
    await this.sweeper.runOnce();
  }

  private async repair(): Promise<void> {
    try {
      if (this.rebuildNeeded || this.queue.takeDirty()) {
        this.rebuildNeeded = false;
        await this.rebuild().catch((e) => {
          this.rebuildNeeded = true;
          throw e;
        });
      }
      await this.leases.requeueExpired();
      await this.retries.sweep();
      if (this.dependencies.takeDirty() || this.sweeps % DEPENDENCY_REPAIR_EVERY_SWEEPS === 0) await this.dependencies.repair();
      // memoized results: executions that ended unnoticed, stranded waiting tasks, expired entries
      if (this.cache.takeDirty() || this.sweeps % DEPENDENCY_REPAIR_EVERY_SWEEPS === 0) await this.outcomes.published(await this.cache.repair());
      if (this.config.FX_QUEUE_TTL_SECONDS > 0) {
        const ttl = this.config.FX_QUEUE_TTL_SECONDS;
        const expired = await this.tasks.failWaitingOlderThan(ttl, {
          code: 'ENDPOINT_UNAVAILABLE',
          name: 'EndpointUnavailable',
          message: `no agent of the task's endpoint took it within ${ttl} seconds of its submission (FX_QUEUE_TTL_SECONDS)`,
        });
        if (expired.length)
          this.logger.warn({
            msg: `tasks waited longer than the queue TTL of ${ttl} s and failed ENDPOINT_UNAVAILABLE`,
            failed: expired.length,
            taskIds: expired.slice(0, 10).map((t) => t.id),
          });
        await this.outcomes.published(expired);
      }
      const endpointIds = [...this.connections.endpointIds()];
      const reclaimed = await this.broker.reclaimStaleMany(endpointIds, this.config.FX_BROKER_RECLAIM_MS);
      const woken = endpointIds.filter((_, i) => (reclaimed[i] ?? 0) > 0);
      if (woken.length) await this.events.publish('wake', { endpointIds: woken });
      if (++this.sweeps % PURGE_EVERY_SWEEPS === 0) {
        const cutoff = new Date(Date.now() - this.config.FX_RESULT_RETENTION_SECONDS * 1000);
        const purged = await this.tasks.purgeCompletedBefore(cutoff);
        if (purged) this.logger.log(`purged ${purged} tasks completed before ${cutoff.toISOString()}`);
        await this.groups.purgeEmptyBefore(cutoff);
      }
    } catch (e) {
      this.logger.error(`sweep failed; the next one retries: ${(e as Error).message}`);
    }
  }

  /**
   * Re-enqueues every waiting task, page by page. A task already queued may be queued twice; the
   * dispatcher's conditional UPDATE hands it out once.
   */
  async rebuild(): Promise<number> {
    let after: { receivedAt: Date; id: string } | null = null;
    let total = 0;
    for (;;) {
      const page = await this.tasks.waitingTasks(after, REBUILD_PAGE);
      if (page.length === 0) break;
      await this.queue.enqueue(page);
      total += page.length;
      const last = page[page.length - 1]!;
      after = { receivedAt: last.received_at, id: last.id };
      if (page.length < REBUILD_PAGE) break;
    }
    if (total) this.logger.log(`re-enqueued ${total} waiting tasks from PostgreSQL`);
    return total;
  }
}
