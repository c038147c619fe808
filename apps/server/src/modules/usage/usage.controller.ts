import { Get } from '@nestjs/common';
import { UsageQuery, type UsageResponse } from '@fx/protocol';
import { ApiController, ZodQuery } from '../../common/api-decorators.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { UsageService } from './usage.service.js';
import type { ParsedUsageQuery } from './usage-window.js';

/** Accounting: core-, GPU- and CPU-hours per user, endpoint or function, and the idle share of pilot blocks. */
@ApiController('usage', 'v1/usage')
export class UsageController {
  constructor(private readonly usage: UsageService) {}

  @Get()
  report(@CurrentPrincipal() p: Principal, @ZodQuery(UsageQuery) q: ParsedUsageQuery): Promise<UsageResponse> {
    return this.usage.report(p, q);
  }
}
