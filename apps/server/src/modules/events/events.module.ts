import { Module } from '@nestjs/common';
import { EventsService } from './events.service.js';

/** The cluster event bus: what one replica tells the others (and itself), through the broker. */
@Module({ providers: [EventsService], exports: [EventsService] })
export class EventsModule {}
