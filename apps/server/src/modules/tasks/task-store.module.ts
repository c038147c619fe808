import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module.js';
import { CopiesRepository } from '../speculation/copies.repository.js';
import { DependenciesRepository } from '../dependencies/dependencies.repository.js';
import { DependenciesService } from '../dependencies/dependencies.service.js';
import { OutcomesService } from '../dependencies/outcomes.service.js';
import { AttemptsRepository } from '../retries/attempts.repository.js';
import { RetriesService } from '../retries/retries.service.js';
import { GroupsRepository } from '../groups/groups.repository.js';
import { QueueService } from './queue.service.js';
import { TasksRepository } from './tasks.repository.js';
import { CacheRepository } from '../cache/cache.repository.js';
import { CacheService } from '../cache/cache.service.js';

/**
 * Task rows, their groups, dataflow edges, attempts and queues (and the cluster events they publish):
 * what the endpoint, task and channel modules all stand on. Final outcomes go out through
 * OutcomesService, which also fills memoized results (modules/cache); failures a retry policy retries
 * are taken out before, by RetriesService.
 */
@Module({
  imports: [EventsModule],
  providers: [
    TasksRepository,
    GroupsRepository,
    QueueService,
    DependenciesRepository,
    DependenciesService,
    OutcomesService,
    AttemptsRepository,
    RetriesService,
    CacheRepository,
    CacheService,
    CopiesRepository,
  ],
  exports: [
    EventsModule,
    TasksRepository,
    GroupsRepository,
    QueueService,
    DependenciesService,
    OutcomesService,
    AttemptsRepository,
    RetriesService,
    CacheService,
    CopiesRepository,
  ],
})
export class TaskStoreModule {}
