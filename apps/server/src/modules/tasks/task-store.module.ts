import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module.js';
import { DependenciesRepository } from '../dependencies/dependencies.repository.js';
import { DependenciesService } from '../dependencies/dependencies.service.js';
import { OutcomesService } from '../dependencies/outcomes.service.js';
import { QueueService } from './queue.service.js';
import { TasksRepository } from './tasks.repository.js';
import { CacheRepository } from '../cache/cache.repository.js';
import { CacheService } from '../cache/cache.service.js';

/**
 * Task rows, their dataflow edges and queues (and the cluster events they publish): what the endpoint,
 * task and channel modules all stand on. Final outcomes go out through OutcomesService, which also
 * fills memoized results (modules/cache).
 */
@Module({
  imports: [EventsModule],
  providers: [TasksRepository, QueueService, DependenciesRepository, DependenciesService, OutcomesService, CacheRepository, CacheService],
  exports: [EventsModule, TasksRepository, QueueService, DependenciesService, OutcomesService, CacheService],
})
export class TaskStoreModule {}
