import { Module } from '@nestjs/common';
import { EventsService } from './events.service.js';
import { QueueService } from './queue.service.js';
import { RecoveryService } from './recovery.service.js';
import { TasksRepository } from './tasks.repository.js';

/** Task rows, queues and cluster events: what the endpoint, task and channel modules all stand on. */
@Module({ providers: [TasksRepository, EventsService, QueueService, RecoveryService], exports: [TasksRepository, EventsService, QueueService, RecoveryService] })
export class TaskStoreModule {}
