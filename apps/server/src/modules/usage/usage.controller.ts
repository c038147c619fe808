import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { UsageQuery, type UsageResponse } from '@fx/protocol';
import { ZodPipe } from '../../common/zod.pipe.js';
import { apiQuery } from '../../common/openapi.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { UsageService } from './usage.service.js';
import type { ParsedUsageQuery } from './usage-window.js';

/** Accounting: core-, GPU- and CPU-hours per user, endpoint or function, and the idle share of pilot blocks. */
@ApiTags('usage')
@ApiBearerAuth()
@Controller('v1/usage')
export class UsageController {
  constructor(private readonly usage: UsageService) {}

  @Get()
  @apiQuery(UsageQuery)
  report(@CurrentPrincipal() p: Principal, @Query(new ZodPipe(UsageQuery, 'query')) q: ParsedUsageQuery): Promise<UsageResponse> {
    return this.usage.report(p, q);
  }
}
