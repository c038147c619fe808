import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module.js';
import { LeasesModule } from '../leases/leases.module.js';
import { TaskStoreModule } from '../tasks/task-store.module.js';
import { EndpointsModule } from '../endpoints/endpoints.module.js';
import { ObjectsModule } from '../objects/objects.module.js';
import { EndpointGroupsController, EndpointInvitationsController } from './endpoint-groups.controller.js';
import { EndpointGroupsRepository } from './endpoint-groups.repository.js';
import { EndpointGroupsService } from './endpoint-groups.service.js';
import { EndpointRoutingRepository } from './endpoint-routing.repository.js';
import { EndpointRoutingService } from './endpoint-routing.service.js';
import { WorkStealingRepository } from './work-stealing.repository.js';
import { WorkStealingService } from './work-stealing.service.js';

/**
 * Endpoint groups: membership and consent (EndpointGroupsService), and routing tasks among members
 * (EndpointRoutingService), which task submission and the endpoint channel use, and work stealing
 * between members (WorkStealingService), which the dispatcher asks when an agent's queue runs dry.
 */
@Module({
  imports: [TaskStoreModule, EndpointsModule, ObjectsModule, EventsModule, LeasesModule],
  controllers: [EndpointGroupsController, EndpointInvitationsController],
  providers: [EndpointGroupsRepository, EndpointGroupsService, EndpointRoutingRepository, EndpointRoutingService, WorkStealingRepository, WorkStealingService],
  exports: [EndpointGroupsService, EndpointRoutingService, WorkStealingService],
})
export class EndpointGroupsModule {}
