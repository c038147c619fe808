import { Injectable } from '@nestjs/common';
import { EventsService } from '../events/events.service.js';
import type { OutcomeRow } from '../tasks/tasks.repository.js';
import { DependenciesService } from './dependencies.service.js';

/**
 * Where every final outcome goes once it is committed, whoever recorded it (an agent's result, a
 * cancel, a lost lease past its attempts, a queue TTL, a deleted endpoint): published to the clients
 * waiting on it, then handed to the dataflow rules, so that its dependents move on (invariant 9).
 */
@Injectable()
export class OutcomesService {
  constructor(
    private readonly events: EventsService,
    private readonly dependencies: DependenciesService,
  ) {}

  async published(rows: OutcomeRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.events.publishOutcomes(rows);
    await this.dependencies.settled(rows);
  }
}
