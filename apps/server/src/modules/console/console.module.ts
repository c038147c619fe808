import { Module } from '@nestjs/common';
import { EndpointsModule } from '../endpoints/endpoints.module.js';
import { EventsModule } from '../events/events.module.js';
import { ConsoleController } from './console.controller.js';
import { ConsoleFeedService } from './console-feed.service.js';
import { ConsoleGateway } from './console.gateway.js';
import { ConsoleRepository } from './console.repository.js';
import { ConsoleService } from './console.service.js';

/** The admin console's server side: its overview routes and its live channel. The SPA itself is mounted by mountConsole(). */
@Module({
  imports: [EventsModule, EndpointsModule],
  controllers: [ConsoleController],
  providers: [ConsoleService, ConsoleRepository, ConsoleFeedService, ConsoleGateway],
})
export class ConsoleModule {}
