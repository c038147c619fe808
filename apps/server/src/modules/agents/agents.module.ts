import { Global, Module } from '@nestjs/common';
import { EndpointGroupsModule } from '../endpoint-groups/endpoint-groups.module.js';
import { EndpointsModule } from '../endpoints/endpoints.module.js';
import { FunctionsModule } from '../functions/functions.module.js';
import { LeasesModule } from '../leases/leases.module.js';
import { AGENT_CONNECTIONS } from '../recovery/agent-connections.js';
import { TaskStoreModule } from '../tasks/task-store.module.js';
import { AgentLivenessService } from './agent-liveness.service.js';
import { AgentSessionService } from './agent-session.service.js';
import { ConnectionRegistry } from './connection-registry.service.js';
import { DispatchService } from './dispatch.service.js';
import { DirectLeaseService } from './direct-lease.service.js';
import { EndpointGateway } from './endpoint.gateway.js';
import { ResultsService } from './results.service.js';
import { ResultBounds } from './result-bounds.js';
import { ObjectsModule } from '../objects/objects.module.js';
import { LiveModule } from '../live/live.module.js';
import { AccountingModule } from '../accounting/accounting.module.js';

/**
 * The endpoint channel and what acts on its frames. Global for its connections only: the recovery sweep
 * reads this replica's agent connections through AGENT_CONNECTIONS, /metrics their heartbeats through
 * ConnectionRegistry, and a submission leases in its insert through DirectLeaseService, without
 * importing this module.
 */
@Global()
@Module({
  imports: [TaskStoreModule, LeasesModule, EndpointsModule, FunctionsModule, ObjectsModule, EndpointGroupsModule, LiveModule, AccountingModule],
  providers: [
    EndpointGateway,
    ConnectionRegistry,
    { provide: AGENT_CONNECTIONS, useExisting: ConnectionRegistry },
    AgentSessionService,
    AgentLivenessService,
    DispatchService,
    DirectLeaseService,
    ResultsService,
    ResultBounds,
  ],
  exports: [AGENT_CONNECTIONS, ConnectionRegistry, DirectLeaseService],
})
export class AgentsModule {}
