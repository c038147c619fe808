import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module.js';
import { LiveController } from './live.controller.js';
import { LiveRepository } from './live.repository.js';
import { LiveService } from './live.service.js';
import { LiveWatchService } from './live-watch.service.js';

/** Live progress and logs of running tasks (issue 16): stored from agents' `stream` frames, relayed to watching sockets, read over REST. */
@Module({
  imports: [EventsModule],
  controllers: [LiveController],
  providers: [LiveRepository, LiveService, LiveWatchService],
  exports: [LiveService, LiveWatchService],
})
export class LiveModule {}
