import { Module } from '@nestjs/common';
import { EndpointBlocksRepository } from './endpoint-blocks.repository.js';
import { UsageRecordsRepository } from './usage-records.repository.js';

/**
 * Accounting's records (issue 17): the usage of every attempt, written with its result
 * (ResultsService), and the pilot blocks agents report in their heartbeats (AgentLivenessService).
 * GET /v1/tasks/:id reads an attempt's usage from here; GET /v1/usage sums these tables.
 */
@Module({
  providers: [UsageRecordsRepository, EndpointBlocksRepository],
  exports: [UsageRecordsRepository, EndpointBlocksRepository],
})
export class AccountingModule {}
