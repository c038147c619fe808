import { Get } from '@nestjs/common';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { ApiController } from '../../common/api-decorators.js';
import { ConsoleService } from './console.service.js';

// The console's routes on tasks, endpoints and functions (the task list, lock and unlock, public and
// private) live with those resources' controllers; these two are the console's own.

@ApiController('console', 'v1/console')
export class ConsoleController {
  constructor(private readonly console: ConsoleService) {}

  /** Endpoints online/offline/locked, queue depth, and completed/failed tasks per minute over the last hour. */
  @Get('overview')
  overview(@CurrentPrincipal() p: Principal) {
    return this.console.overview(p);
  }

  /** Endpoints with lock state, owner name and queue depth. */
  @Get('endpoints')
  async endpoints(@CurrentPrincipal() p: Principal) {
    return { items: await this.console.listEndpoints(p) };
  }
}
