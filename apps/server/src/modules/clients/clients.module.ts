import { Module } from '@nestjs/common';
import { TaskStoreModule } from '../tasks/task-store.module.js';
import { ClientGateway } from './client.gateway.js';
import { SubscriptionsService } from './subscriptions.service.js';
import { LiveModule } from '../live/live.module.js';
import { TasksModule } from '../tasks/tasks.module.js';
import { RateLimitModule } from '../ratelimit/ratelimit.module.js';
import { SocketSubmitService } from './socket-submit.service.js';

@Module({ imports: [TaskStoreModule, LiveModule, TasksModule, RateLimitModule], providers: [ClientGateway, SubscriptionsService, SocketSubmitService] })
export class ClientsModule {}
