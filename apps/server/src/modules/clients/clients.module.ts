import { Module } from '@nestjs/common';
import { TaskStoreModule } from '../tasks/task-store.module.js';
import { ClientGateway } from './client.gateway.js';
import { SubscriptionsService } from './subscriptions.service.js';
import { LiveModule } from '../live/live.module.js';

@Module({ imports: [TaskStoreModule, LiveModule], providers: [ClientGateway, SubscriptionsService] })
export class ClientsModule {}
