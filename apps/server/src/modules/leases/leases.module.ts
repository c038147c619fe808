import { Module } from '@nestjs/common';
import { TaskStoreModule } from '../tasks/task-store.module.js';
import { LeaseService } from './lease.service.js';
import { LeasesRepository } from './leases.repository.js';

/** Task leases: granted at dispatch, extended by heartbeats, requeued when lost. */
@Module({ imports: [TaskStoreModule], providers: [LeasesRepository, LeaseService], exports: [LeaseService] })
export class LeasesModule {}
