import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module.js';
import { TaskStoreModule } from '../tasks/task-store.module.js';
import { LeaseService } from './lease.service.js';
import { LeasesRepository } from './leases.repository.js';

/** Task leases: granted at dispatch, extended by heartbeats, requeued when lost. */
@Module({ imports: [TaskStoreModule, EventsModule], providers: [LeasesRepository, LeaseService], exports: [LeaseService] })
export class LeasesModule {}
