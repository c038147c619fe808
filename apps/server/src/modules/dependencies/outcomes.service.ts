import { Injectable } from '@nestjs/common';
import { EventsService } from '../events/events.service.js';
import type { OutcomeRow } from '../tasks/tasks.repository.js';
import { DependenciesService } from './dependencies.service.js';
import { CacheService } from '../cache/cache.service.js';
import { MetricsService } from '../metrics/metrics.service.js';

/**
 * Where every final outcome goes once it is committed, whoever recorded it (an agent's result, a
 * cancel, a lost lease past its attempts, a queue TTL, a deleted endpoint): first to the memoized
 * results, so that a success fills its entry (invariant 11), then published to the clients waiting on
 * it, then handed to the dataflow rules, so that its dependents move on (invariant 9); the identical
 * tasks that waited for the entry complete with it (their outcomes come back through here). The entry is
 * filled before the publish so that a client holding the result sees the entry too: its clearCache
 * clears it. Each is counted once in the metrics; `again` marks outcomes recorded before and published
 * once more (an agent's resend).
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
    // a resend fills nothing: its entry was filled when it was recorded, and may have been cleared or
    // have expired since (an entry still pending on it is the recovery sweep's: settleEnded)
    const followers = options.again ? [] : await this.cache.settled(rows);
    await this.events.publishOutcomes(rows);
    await this.dependencies.settled(rows);
    await this.published(followers);
  }
}
