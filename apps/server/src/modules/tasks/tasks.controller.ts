import { Get, HttpCode, Param, Post, Res } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { ListTasksQuery, SubmitBatchRequest, SubmitTaskRequest, TaskResultsRequest, TaskStatusManyRequest } from '@fx/protocol';
import { ApiController, ZodBody, ZodQuery } from '../../common/api-decorators.js';
import { UuidPipe } from '../../common/zod.pipe.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { TasksService } from './tasks.service.js';
import { TaskResultsService } from './task-results.service.js';
import { TaskListService, type ParsedListTasksQuery } from './task-list.service.js';

@ApiController('tasks', 'v1/tasks')
export class TasksController {
  constructor(
    private readonly tasks: TasksService,
    private readonly results: TaskResultsService,
    private readonly lists: TaskListService,
  ) {}

  /** Tasks the caller may see, newest first, filtered, keyset-paged (`nextCursor`). */
  @Get()
  list(@CurrentPrincipal() p: Principal, @ZodQuery(ListTasksQuery) q: ParsedListTasksQuery) {
    return this.lists.list(p, q);
  }

  @Post()
  submit(@CurrentPrincipal() p: Principal, @ZodBody(SubmitTaskRequest) body: SubmitTaskRequest) {
    return this.tasks.submit(p, body);
  }

  @Post('batch')
  submitBatch(@CurrentPrincipal() p: Principal, @ZodBody(SubmitBatchRequest) body: SubmitBatchRequest) {
    return this.tasks.submitBatch(p, body);
  }

  @Post('status')
  @HttpCode(200)
  status(@CurrentPrincipal() p: Principal, @ZodBody(TaskStatusManyRequest) body: TaskStatusManyRequest) {
    return this.tasks.statusMany(p, body.taskIds);
  }

  @Post('results')
  @HttpCode(200)
  taskResults(@CurrentPrincipal() p: Principal, @ZodBody(TaskResultsRequest) body: TaskResultsRequest, @Res({ passthrough: true }) res: ServerResponse) {
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
