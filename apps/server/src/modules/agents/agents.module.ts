import { Module, OnModuleInit } from '@nestjs/common';
import { EndpointsModule } from '../endpoints/endpoints.module.js';
import { FunctionsModule } from '../functions/functions.module.js';
import { TaskStoreModule } from '../tasks/task-store.module.js';
import { RecoveryService } from '../tasks/recovery.service.js';
import { DispatchService } from './dispatch.service.js';
import { EndpointGateway } from './endpoint.gateway.js';
import { ResultsService } from './results.service.js';

@Module({ imports: [TaskStoreModule, EndpointsModule, FunctionsModule], providers: [EndpointGateway, DispatchService, ResultsService] })
export class AgentsModule implements OnModuleInit {
  constructor(
    private readonly recovery: RecoveryService,
    private readonly dispatch: DispatchService,
  ) {}

  onModuleInit(): void {
    // Stale delivery leases are reclaimed for the endpoints whose agents this replica holds.
    this.recovery.endpointsToReclaim = () => [...this.dispatch.all()].map((c) => c.endpointId);
  }
}
