import { Global, Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module.js';
import { AgentsCollector } from './collectors/agents.collector.js';
import { QueuesCollector } from './collectors/queues.collector.js';
import { StorageCollector } from './collectors/storage.collector.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsRepository } from './metrics.repository.js';
import { MetricsService } from './metrics.service.js';

/**
 * Prometheus metrics (GET /metrics). Global: the modules that see things happen (submission, dispatch,
 * results, outcomes, objects, the channels) report to MetricsService without importing this module.
 * The collectors read at scrape time what is cheaper to read than to track: the database's queues,
 * this replica's agents and sockets, the stores' health.
 */
@Global()
@Module({
  imports: [EventsModule],
  controllers: [MetricsController],
  providers: [MetricsService, MetricsRepository, QueuesCollector, AgentsCollector, StorageCollector],
  exports: [MetricsService],
})
export class MetricsModule {}
