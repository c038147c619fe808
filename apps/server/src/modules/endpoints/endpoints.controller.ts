import { Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { EndpointRef, RegisterEndpointRequest, UpdateEndpointRequest } from '@fx/protocol';
import { ApiController, ZodBody } from '../../common/api-decorators.js';
import { RefPipe } from '../../common/zod.pipe.js';
import { jsonSchema } from '../../common/openapi.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { EndpointsService } from './endpoints.service.js';

/** Every `:id` below is an endpoint id or name (`name`, or `owner/name` for admins). */
export const ENDPOINT_PARAM = {
  name: 'id',
  description: 'an endpoint id, or its name: `name` (yours) or `owner/name` (URL-encoded)',
  schema: jsonSchema(EndpointRef) as never,
};
const endpointRef = () => new RefPipe(EndpointRef, 'endpoint');

@ApiController('endpoints', 'v1/endpoints')
export class EndpointsController {
  constructor(private readonly endpoints: EndpointsService) {}

  @Post()
  register(@CurrentPrincipal() p: Principal, @ZodBody(RegisterEndpointRequest) body: RegisterEndpointRequest) {
    return this.endpoints.register(p, body);
  }

  @Get()
  async list(@CurrentPrincipal() p: Principal) {
    return { items: await this.endpoints.list(p) };
  }

  @Get(':id')
  @ApiParam(ENDPOINT_PARAM)
  get(@CurrentPrincipal() p: Principal, @Param('id', endpointRef()) id: string) {
    return this.endpoints.get(p, id);
  }

  @Get(':id/status')
  @ApiParam(ENDPOINT_PARAM)
  status(@CurrentPrincipal() p: Principal, @Param('id', endpointRef()) id: string) {
    return this.endpoints.status(p, id);
  }

  @Patch(':id')
  @ApiParam(ENDPOINT_PARAM)
  update(@CurrentPrincipal() p: Principal, @Param('id', endpointRef()) id: string, @ZodBody(UpdateEndpointRequest) body: UpdateEndpointRequest) {
    return this.endpoints.update(p, id, body);
  }

  /** A locked endpoint refuses new tasks with 409 ENDPOINT_LOCKED; tasks already queued still run. */
  @Post(':id/lock')
  @ApiParam(ENDPOINT_PARAM)
  @HttpCode(200)
  lock(@CurrentPrincipal() p: Principal, @Param('id', endpointRef()) id: string) {
    return this.endpoints.lock(p, id, true);
  }

  @Post(':id/unlock')
  @ApiParam(ENDPOINT_PARAM)
  @HttpCode(200)
  unlock(@CurrentPrincipal() p: Principal, @Param('id', endpointRef()) id: string) {
    return this.endpoints.lock(p, id, false);
  }

  @Delete(':id')
  @ApiParam(ENDPOINT_PARAM)
  @HttpCode(204)
  async delete(@CurrentPrincipal() p: Principal, @Param('id', endpointRef()) id: string) {
    await this.endpoints.delete(p, id);
  }
}
