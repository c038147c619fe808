import { Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { AddEndpointGroupMemberRequest, CreateEndpointGroupRequest, EndpointRef } from '@fx/protocol';
import { ApiController, ZodBody } from '../../common/api-decorators.js';
import { RefPipe, UuidPipe } from '../../common/zod.pipe.js';
import { jsonSchema } from '../../common/openapi.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { EndpointGroupsService } from './endpoint-groups.service.js';

const GROUP_PARAM = { name: 'id', description: 'an endpoint group id, or the name of one of yours', schema: jsonSchema(EndpointRef) as never };
// group names follow endpoint names' rule (EndpointRef's shape); the service reads `owner/name` as nobody's
const groupRef = () => new RefPipe(EndpointRef, 'endpoint');

/** Endpoint groups: several endpoints under one name, wherever an endpoint is named (protocol endpoint-groups.ts). */
@ApiController('endpoint-groups', 'v1/endpoint-groups')
export class EndpointGroupsController {
  constructor(private readonly groups: EndpointGroupsService) {}

  @Post()
  create(@CurrentPrincipal() p: Principal, @ZodBody(CreateEndpointGroupRequest) body: CreateEndpointGroupRequest) {
    return this.groups.create(p, body);
  }

  @Get()
  async list(@CurrentPrincipal() p: Principal) {
    return { items: await this.groups.list(p) };
  }

  @Get(':id')
  @ApiParam(GROUP_PARAM)
  get(@CurrentPrincipal() p: Principal, @Param('id', groupRef()) id: string) {
    return this.groups.get(p, id);
  }

  @Delete(':id')
  @ApiParam(GROUP_PARAM)
  @HttpCode(204)
  async delete(@CurrentPrincipal() p: Principal, @Param('id', groupRef()) id: string): Promise<void> {
    await this.groups.delete(p, id);
  }

  /** Your endpoint joins at once; another user's endpoint id is invited (the same answer whether it exists or not). */
  @Post(':id/members')
  @ApiParam(GROUP_PARAM)
  addMember(
    @CurrentPrincipal() p: Principal,
    @Param('id', groupRef()) id: string,
    @ZodBody(AddEndpointGroupMemberRequest) body: AddEndpointGroupMemberRequest,
  ) {
    return this.groups.addMember(p, id, body.endpointId);
  }

  /** The group's owner removes a member; an endpoint's owner takes their endpoint out of any group. */
  @Delete(':id/members/:endpointId')
  @ApiParam(GROUP_PARAM)
  @HttpCode(204)
  async removeMember(@CurrentPrincipal() p: Principal, @Param('id', groupRef()) id: string, @Param('endpointId', UuidPipe) endpointId: string): Promise<void> {
    await this.groups.removeMember(p, id, endpointId);
  }

  /** The endpoint's owner accepts an invitation of their endpoint. */
  @Post(':id/members/:endpointId/accept')
  @HttpCode(204)
  async accept(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string, @Param('endpointId', UuidPipe) endpointId: string): Promise<void> {
    await this.groups.accept(p, id, endpointId);
  }

  /** The endpoint's owner declines an invitation of their endpoint. */
  @Post(':id/members/:endpointId/decline')
  @HttpCode(204)
  async decline(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string, @Param('endpointId', UuidPipe) endpointId: string): Promise<void> {
    await this.groups.decline(p, id, endpointId);
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
