import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module.js';
import { QueueService } from './queue.service.js';
import { TasksRepository } from './tasks.repository.js';

/** Task rows and queues (and the cluster events they publish): what the endpoint, task and channel modules all stand on. */
@Module({ imports: [EventsModule], providers: [TasksRepository, QueueService], exports: [EventsModule, TasksRepository, QueueService] })
export class TaskStoreModule {}
