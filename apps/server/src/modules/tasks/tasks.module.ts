import { Module } from '@nestjs/common';
import { EndpointGroupsModule } from '../endpoint-groups/endpoint-groups.module.js';
import { EndpointsModule } from '../endpoints/endpoints.module.js';
import { FunctionsModule } from '../functions/functions.module.js';
import { GroupsModule } from '../groups/groups.module.js';
import { TaskStoreModule } from './task-store.module.js';
import { TasksController } from './tasks.controller.js';
import { TasksService } from './tasks.service.js';
import { TaskResultsService } from './task-results.service.js';
import { TaskListService } from './task-list.service.js';
import { TaskListRepository } from './task-list.repository.js';
import { ObjectsModule } from '../objects/objects.module.js';
import { AccountingModule } from '../accounting/accounting.module.js';

@Module({
  imports: [TaskStoreModule, EndpointsModule, FunctionsModule, GroupsModule, ObjectsModule, EndpointGroupsModule, AccountingModule],
  controllers: [TasksController],
  providers: [TasksService, TaskResultsService, TaskListService, TaskListRepository],
  exports: [TasksService],
})
export class TasksModule {}
