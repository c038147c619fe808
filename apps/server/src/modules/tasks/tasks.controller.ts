import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { SubmitBatchRequest, SubmitTaskRequest, TaskStatusManyRequest } from '@fx/protocol';
import { UuidPipe, ZodPipe } from '../../common/zod.pipe.js';
import { jsonSchema } from '../../common/openapi.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { TasksService } from './tasks.service.js';

@ApiTags('tasks')
@ApiBearerAuth()
@Controller('v1/tasks')
export class TasksController {
  constructor(private readonly tasks: TasksService) {}

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
