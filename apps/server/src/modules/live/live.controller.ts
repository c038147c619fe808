import { Get, Param } from '@nestjs/common';
import { TaskLogsQuery } from '@fx/protocol';
import { ApiController, ZodQuery } from '../../common/api-decorators.js';
import { UuidPipe } from '../../common/zod.pipe.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { LiveService, type ParsedTaskLogsQuery } from './live.service.js';

/** The stored part of a running task's live streams: its kept progress values and its logs. */
@ApiController('tasks', 'v1/tasks')
export class LiveController {
  constructor(private readonly live: LiveService) {}

  @Get(':id/progress')
  progress(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    return this.live.progress(p, id);
  }

  @Get(':id/logs')
  logs(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string, @ZodQuery(TaskLogsQuery) q: ParsedTaskLogsQuery) {
    return this.live.logs(p, id, q);
  }
}
