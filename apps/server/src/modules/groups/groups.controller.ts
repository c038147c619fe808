import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { CreateGroupRequest, GroupTasksQuery, type SpeculationOptions } from '@fx/protocol';
import { UuidPipe, ZodPipe } from '../../common/zod.pipe.js';
import { apiQuery, jsonSchema } from '../../common/openapi.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { GroupsService, type ParsedGroupTasksQuery } from './groups.service.js';

/** Task groups: a batch, a graph or a map, re-attached to by id. */
@ApiTags('groups')
@ApiBearerAuth()
@Controller('v1/groups')
export class GroupsController {
  constructor(private readonly groups: GroupsService) {}

  /** An empty group; batches join it with `groupId` (a map makes one). */
  @Post()
  @ApiBody({ schema: jsonSchema(CreateGroupRequest) })
  create(@CurrentPrincipal() p: Principal, @Body(new ZodPipe(CreateGroupRequest)) body: { kind: 'batch' | 'map'; speculation?: SpeculationOptions }) {
    return this.groups.create(p, body.kind, body.speculation);
  }

  @Get(':id')
  get(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    return this.groups.get(p, id);
  }

  @Get(':id/tasks')
  @apiQuery(GroupTasksQuery)
  tasks(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string, @Query(new ZodPipe(GroupTasksQuery, 'query')) q: ParsedGroupTasksQuery) {
    return this.groups.listTasks(p, id, q);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  cancel(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    return this.groups.cancel(p, id);
  }
}
