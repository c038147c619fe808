import { Injectable } from '@nestjs/common';
import { EventsService } from '../events/events.service.js';
import type { OutcomeRow } from '../tasks/tasks.repository.js';
import { DependenciesService } from './dependencies.service.js';
import { CacheService } from '../cache/cache.service.js';
import { MetricsService } from '../metrics/metrics.service.js';

/**
 * Where every final outcome goes once it is committed, whoever recorded it (an agent's result, a
 * cancel, a lost lease past its attempts, a queue TTL, a deleted endpoint): published to the clients
 * waiting on it, then handed to the dataflow rules, so that its dependents move on (invariant 9), and
 * to the memoized results, so that a success fills its entry and the identical tasks waiting for it
 * complete with it (invariant 11; those outcomes come back through here). Each is counted once in the
 * metrics; `again` marks outcomes recorded before and published once more (an agent's resend).
 */
@Injectable()
export class OutcomesService {
  constructor(
    private readonly events: EventsService,
    private readonly dependencies: DependenciesService,
    private readonly cache: CacheService,
    private readonly metrics: MetricsService,
  ) {}

  async published(rows: OutcomeRow[], options: { again?: boolean } = {}): Promise<void> {
    if (rows.length === 0) return;
    if (!options.again) this.metrics.finished(rows);
    await this.events.publishOutcomes(rows);
    await this.dependencies.settled(rows);
    await this.published(await this.cache.settled(rows));
  }
}
