import { Module } from '@nestjs/common';
import { TaskStoreModule } from '../tasks/task-store.module.js';
import { EndpointsModule } from '../endpoints/endpoints.module.js';
import { ObjectsModule } from '../objects/objects.module.js';
import { EndpointGroupsController, EndpointInvitationsController } from './endpoint-groups.controller.js';
import { EndpointGroupsRepository } from './endpoint-groups.repository.js';
import { EndpointGroupsService } from './endpoint-groups.service.js';
import { EndpointRoutingRepository } from './endpoint-routing.repository.js';
import { EndpointRoutingService } from './endpoint-routing.service.js';

/**
 * Endpoint groups: membership and consent (EndpointGroupsService), and routing tasks among members
 * (EndpointRoutingService), which task submission and the endpoint channel use.
 */
@Module({
  imports: [TaskStoreModule, EndpointsModule, ObjectsModule],
  controllers: [EndpointGroupsController, EndpointInvitationsController],
  providers: [EndpointGroupsRepository, EndpointGroupsService, EndpointRoutingRepository, EndpointRoutingService],
  exports: [EndpointGroupsService, EndpointRoutingService],
})
export class EndpointGroupsModule {}
