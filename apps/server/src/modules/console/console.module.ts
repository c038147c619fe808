import { Module } from '@nestjs/common';
import { EndpointsModule } from '../endpoints/endpoints.module.js';
import { FunctionsModule } from '../functions/functions.module.js';
import { TaskStoreModule } from '../tasks/task-store.module.js';
import { ConsoleController, EndpointLockController, FunctionUpdateController, TaskListController } from './console.controller.js';
import { ConsoleGateway } from './console.gateway.js';
import { ConsoleRepository } from './console.repository.js';
import { ConsoleService } from './console.service.js';

/** The admin console's server side: its REST routes and its live channel. The SPA itself is mounted by mountConsole(). */
@Module({
  imports: [TaskStoreModule, EndpointsModule, FunctionsModule],
  controllers: [TaskListController, EndpointLockController, FunctionUpdateController, ConsoleController],
  providers: [ConsoleService, ConsoleRepository, ConsoleGateway],
})
export class ConsoleModule {}
