import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { TaskLogsQuery } from '@fx/protocol';
import { UuidPipe, ZodPipe } from '../../common/zod.pipe.js';
import { apiQuery } from '../../common/openapi.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { LiveService, type ParsedTaskLogsQuery } from './live.service.js';

/** The stored part of a running task's live streams: its kept progress values and its logs. */
@ApiTags('tasks')
@ApiBearerAuth()
@Controller('v1/tasks')
export class LiveController {
  constructor(private readonly live: LiveService) {}

  @Get(':id/progress')
  progress(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    return this.live.progress(p, id);
  }

  @Get(':id/logs')
  @apiQuery(TaskLogsQuery)
  logs(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string, @Query(new ZodPipe(TaskLogsQuery, 'query')) q: ParsedTaskLogsQuery) {
    return this.live.logs(p, id, q);
  }
}
