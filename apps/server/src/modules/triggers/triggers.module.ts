import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module.js';
import { EndpointsModule } from '../endpoints/endpoints.module.js';
import { FunctionsModule } from '../functions/functions.module.js';
import { TasksModule } from '../tasks/tasks.module.js';
import { TriggersController } from './triggers.controller.js';
import { TriggersRepository } from './triggers.repository.js';
import { TriggersService } from './triggers.service.js';

@Module({
  imports: [EventsModule, EndpointsModule, FunctionsModule, TasksModule],
  controllers: [TriggersController],
  providers: [TriggersRepository, TriggersService],
})
export class TriggersModule {}
