import { Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { AddEndpointGroupMemberRequest, CreateEndpointGroupRequest, EndpointRef } from '@fx/protocol';
import { ApiController, ZodBody } from '../../common/api-decorators.js';
import { CreatableRoutes, idRoute, refId } from '../../common/owned-routes.js';
import { UuidPipe } from '../../common/zod.pipe.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { EndpointGroupsService } from './endpoint-groups.service.js';

// group names follow endpoint names' rule (EndpointRef's shape); the service reads `owner/name` as nobody's
const GROUP_ID = refId(EndpointRef, 'endpoint', 'an endpoint group id, or the name of one of yours');
const { ById, Id } = idRoute(GROUP_ID);

/**
 * Endpoint groups: several endpoints under one name, wherever an endpoint is named (protocol
 * endpoint-groups.ts). Create, list, get and delete: CreatableRoutes.
 */
@ApiController('endpoint-groups', 'v1/endpoint-groups')
export class EndpointGroupsController extends CreatableRoutes(EndpointGroupsService, GROUP_ID, CreateEndpointGroupRequest) {
  /** Your endpoint joins at once; another user's endpoint id is invited (the same answer whether it exists or not). */
  @ById(Post(':id/members'))
  addMember(@CurrentPrincipal() p: Principal, @Id() id: string, @ZodBody(AddEndpointGroupMemberRequest) body: AddEndpointGroupMemberRequest) {
    return this.service.addMember(p, id, body.endpointId);
  }

  /** The group's owner removes a member; an endpoint's owner takes their endpoint out of any group. */
  @ById(Delete(':id/members/:endpointId'))
  @HttpCode(204)
  async removeMember(@CurrentPrincipal() p: Principal, @Id() id: string, @Param('endpointId', UuidPipe) endpointId: string): Promise<void> {
    await this.service.removeMember(p, id, endpointId);
  }

  /** The endpoint's owner accepts an invitation of their endpoint. */
  @Post(':id/members/:endpointId/accept')
  @HttpCode(204)
  async accept(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string, @Param('endpointId', UuidPipe) endpointId: string): Promise<void> {
    await this.service.accept(p, id, endpointId);
  }

  /** The endpoint's owner declines an invitation of their endpoint. */
  @Post(':id/members/:endpointId/decline')
  @HttpCode(204)
  async decline(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string, @Param('endpointId', UuidPipe) endpointId: string): Promise<void> {
    await this.service.decline(p, id, endpointId);
  }
}

/** Invitations of your endpoints into other users' endpoint groups. */
@ApiController('endpoint-groups', 'v1/endpoint-invitations')
export class EndpointInvitationsController {
  constructor(private readonly groups: EndpointGroupsService) {}

  @Get()
  async list(@CurrentPrincipal() p: Principal) {
    return { items: await this.groups.invitations(p) };
  }
}
