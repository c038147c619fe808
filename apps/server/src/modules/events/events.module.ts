import { Module } from '@nestjs/common';
import { EventsService } from './events.service.js';
import { ObjectHooks } from './object-hooks.js';
import { RequeueHooks } from './requeue-hooks.js';

/** The cluster event bus: what one replica tells the others (and itself), through the broker; and the in-process hooks (objects named, tasks requeued). */
@Module({ providers: [EventsService, ObjectHooks, RequeueHooks], exports: [EventsService, ObjectHooks, RequeueHooks] })
export class EventsModule {}
