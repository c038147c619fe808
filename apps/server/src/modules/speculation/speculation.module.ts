import { Module } from '@nestjs/common';
import { TaskStoreModule } from '../tasks/task-store.module.js';
import { EndpointGroupsModule } from '../endpoint-groups/endpoint-groups.module.js';
import { LeasesModule } from '../leases/leases.module.js';
import { CopyPlacement } from './copy-placement.js';
import { CopyPlacementsRepository } from './copy-placements.repository.js';
import { SpeculationService } from './speculation.service.js';

/** Speculative copies of stragglers: the sweep that launches and ends them (the agents module sends them). */
@Module({
  imports: [TaskStoreModule, EndpointGroupsModule, LeasesModule],
  providers: [CopyPlacement, CopyPlacementsRepository, SpeculationService],
  exports: [SpeculationService],
})
export class SpeculationModule {}
