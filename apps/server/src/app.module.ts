import { DynamicModule, Module } from '@nestjs/common';
import type { AppConfig } from './config/env.js';
import { ConfigModule } from './config/config.module.js';
import { StorageModule } from './storage/storage.module.js';
import { AuthModule } from './modules/auth/auth.module.js';
import { AuditModule } from './modules/audit/audit.module.js';
import { UsersModule } from './modules/users/users.module.js';
import { FunctionsModule } from './modules/functions/functions.module.js';
import { EndpointsModule } from './modules/endpoints/endpoints.module.js';
import { TasksModule } from './modules/tasks/tasks.module.js';
import { GroupsModule } from './modules/groups/groups.module.js';
import { AgentsModule } from './modules/agents/agents.module.js';
import { RecoveryModule } from './modules/recovery/recovery.module.js';
import { ClientsModule } from './modules/clients/clients.module.js';
import { ConsoleModule } from './modules/console/console.module.js';
import { HealthController } from './modules/health/health.controller.js';
import { RateLimitModule } from './modules/ratelimit/ratelimit.module.js';
import { EndpointGroupsModule } from './modules/endpoint-groups/endpoint-groups.module.js';
import { TriggersModule } from './modules/triggers/triggers.module.js';
import { ObjectsModule } from './modules/objects/objects.module.js';
import { SpeculationModule } from './modules/speculation/speculation.module.js';
import { MetricsModule } from './modules/metrics/metrics.module.js';
import { UsageModule } from './modules/usage/usage.module.js';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        StorageModule,
        MetricsModule,
        AuthModule,
        AuditModule,
        UsersModule,
        FunctionsModule,
        EndpointsModule,
        TasksModule,
        GroupsModule,
        ObjectsModule,
        SpeculationModule,
        AgentsModule,
        RecoveryModule,
        ClientsModule,
        ConsoleModule,
        RateLimitModule,
        TriggersModule,
        EndpointGroupsModule,
        UsageModule,
      ],
      controllers: [HealthController],
    };
  }
}
