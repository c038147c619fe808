import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { ListTasksQuery, SubmitBatchRequest, SubmitTaskRequest, TaskResultsRequest, TaskStatusManyRequest } from '@fx/protocol';
import { UuidPipe, ZodPipe } from '../../common/zod.pipe.js';
import { apiQuery, jsonSchema } from '../../common/openapi.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { TasksService } from './tasks.service.js';
import { TaskResultsService } from './task-results.service.js';
import { TaskListService, type ParsedListTasksQuery } from './task-list.service.js';

@ApiTags('tasks')
@ApiBearerAuth()
@Controller('v1/tasks')
export class TasksController {
  constructor(
    private readonly tasks: TasksService,
    private readonly results: TaskResultsService,
    private readonly lists: TaskListService,
  ) {}

  /** Tasks the caller may see, newest first, filtered, keyset-paged (`nextCursor`). */
  @Get()
  @apiQuery(ListTasksQuery)
  list(@CurrentPrincipal() p: Principal, @Query(new ZodPipe(ListTasksQuery, 'query')) q: ParsedListTasksQuery) {
    return this.lists.list(p, q);
  }

  @Post()
  @ApiBody({ schema: jsonSchema(SubmitTaskRequest) })
  submit(@CurrentPrincipal() p: Principal, @Body(new ZodPipe(SubmitTaskRequest)) body: SubmitTaskRequest) {
    return this.tasks.submit(p, body);
  }

  @Post('batch')
  @ApiBody({ schema: jsonSchema(SubmitBatchRequest) })
  submitBatch(@CurrentPrincipal() p: Principal, @Body(new ZodPipe(SubmitBatchRequest)) body: SubmitBatchRequest) {
    return this.tasks.submitBatch(p, body);
  }

  @Post('status')
  @HttpCode(200)
  @ApiBody({ schema: jsonSchema(TaskStatusManyRequest) })
  status(@CurrentPrincipal() p: Principal, @Body(new ZodPipe(TaskStatusManyRequest)) body: TaskStatusManyRequest) {
    return this.tasks.statusMany(p, body.taskIds);
  }

  @Post('results')
  @HttpCode(200)
  @ApiBody({ schema: jsonSchema(TaskResultsRequest) })
  taskResults(
    @CurrentPrincipal() p: Principal,
    @Body(new ZodPipe(TaskResultsRequest)) body: TaskResultsRequest,
    @Res({ passthrough: true }) res: ServerResponse,
  ) {
    // a long-poll whose client went away stops waiting
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    return this.results.results(p, body.taskIds, body.waitMs ?? 0, gone.signal);
  }

  @Get(':id')
  get(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    return this.tasks.get(p, id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  cancel(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    return this.tasks.cancel(p, id);
  }
}
