import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module.js';
import { DependenciesRepository } from '../dependencies/dependencies.repository.js';
import { DependenciesService } from '../dependencies/dependencies.service.js';
import { OutcomesService } from '../dependencies/outcomes.service.js';
import { GroupsRepository } from '../groups/groups.repository.js';
import { QueueService } from './queue.service.js';
import { TasksRepository } from './tasks.repository.js';

/**
 * Task rows, their groups, dataflow edges and queues (and the cluster events they publish): what the endpoint,
 * task and channel modules all stand on. Final outcomes go out through OutcomesService.
 */
@Module({
  imports: [EventsModule],
  providers: [TasksRepository, GroupsRepository, QueueService, DependenciesRepository, DependenciesService, OutcomesService],
  exports: [EventsModule, TasksRepository, GroupsRepository, QueueService, DependenciesService, OutcomesService],
})
export class TaskStoreModule {}
