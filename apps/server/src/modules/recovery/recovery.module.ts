import { Module } from '@nestjs/common';
import { LeasesModule } from '../leases/leases.module.js';
import { TaskStoreModule } from '../tasks/task-store.module.js';
import { RecoveryService } from './recovery.service.js';

/** The repair sweep. Its AGENT_CONNECTIONS come from the agents module (global, for this one token). */
@Module({ imports: [TaskStoreModule, LeasesModule], providers: [RecoveryService] })
export class RecoveryModule {}
