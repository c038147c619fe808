import { Module } from '@nestjs/common';
import { EventsService } from './events.service.js';
import { ObjectHooks } from './object-hooks.js';

/** The cluster event bus: what one replica tells the others (and itself), through the broker; and the in-process object hooks. */
@Module({ providers: [EventsService, ObjectHooks], exports: [EventsService, ObjectHooks] })
export class EventsModule {}
