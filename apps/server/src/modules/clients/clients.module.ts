import { Module } from '@nestjs/common';
import { TaskStoreModule } from '../tasks/task-store.module.js';
import { ClientGateway } from './client.gateway.js';
import { SubscriptionsService } from './subscriptions.service.js';

@Module({ imports: [TaskStoreModule], providers: [ClientGateway, SubscriptionsService] })
export class ClientsModule {}
