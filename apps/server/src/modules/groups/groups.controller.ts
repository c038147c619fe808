import { Get, HttpCode, Param, Post } from '@nestjs/common';
import { CreateGroupRequest, GroupTasksQuery, type SpeculationOptions } from '@fx/protocol';
import { ApiController, ZodBody, ZodQuery } from '../../common/api-decorators.js';
import { ReadRoutes } from '../../common/owned-routes.js';
import { UuidPipe } from '../../common/zod.pipe.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { GroupsService, type ParsedGroupTasksQuery } from './groups.service.js';

/** Task groups: a batch, a graph or a map, re-attached to by id (`GET /:id`: ReadRoutes). */
@ApiController('groups', 'v1/groups')
export class GroupsController extends ReadRoutes(GroupsService, { pipe: UuidPipe }) {
  /** An empty group; batches join it with `groupId` (a map makes one). */
  @Post()
  create(@CurrentPrincipal() p: Principal, @ZodBody(CreateGroupRequest) body: { kind: 'batch' | 'map'; speculation?: SpeculationOptions }) {
    return this.service.create(p, body.kind, body.speculation);
  }

  @Get(':id/tasks')
  tasks(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string, @ZodQuery(GroupTasksQuery) q: ParsedGroupTasksQuery) {
    return this.service.listTasks(p, id, q);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  cancel(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    return this.service.cancel(p, id);
  }
}
