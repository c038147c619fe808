import { Get, HttpCode, Param, Post } from '@nestjs/common';
import { CreateGroupRequest, GroupTasksQuery, type SpeculationOptions } from '@fx/protocol';
import { ApiController, ZodBody, ZodQuery } from '../../common/api-decorators.js';
import { UuidPipe } from '../../common/zod.pipe.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { GroupsService, type ParsedGroupTasksQuery } from './groups.service.js';

/** Task groups: a batch, a graph or a map, re-attached to by id. */
@ApiController('groups', 'v1/groups')
export class GroupsController {
  constructor(private readonly groups: GroupsService) {}

  /** An empty group; batches join it with `groupId` (a map makes one). */
  @Post()
  create(@CurrentPrincipal() p: Principal, @ZodBody(CreateGroupRequest) body: { kind: 'batch' | 'map'; speculation?: SpeculationOptions }) {
    return this.groups.create(p, body.kind, body.speculation);
  }

  @Get(':id')
  get(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    return this.groups.get(p, id);
  }

  @Get(':id/tasks')
  tasks(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string, @ZodQuery(GroupTasksQuery) q: ParsedGroupTasksQuery) {
    return this.groups.listTasks(p, id, q);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  cancel(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    return this.groups.cancel(p, id);
  }
}
