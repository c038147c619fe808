import { Get, HttpCode, Patch, Post } from '@nestjs/common';
import { EndpointRef, RegisterEndpointRequest, UpdateEndpointRequest } from '@fx/protocol';
import { ApiController, ZodBody } from '../../common/api-decorators.js';
import { idRoute, OwnedRoutes, refId } from '../../common/owned-routes.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { EndpointsService } from './endpoints.service.js';

/** Every `:id` below is an endpoint id or name (`name`, or `owner/name` for admins). */
const ENDPOINT_ID = refId(EndpointRef, 'endpoint', 'an endpoint id, or its name: `name` (yours) or `owner/name` (URL-encoded)');
const { ById, Id } = idRoute(ENDPOINT_ID);

/** Endpoints (list, get and delete: OwnedRoutes). */
@ApiController('endpoints', 'v1/endpoints')
export class EndpointsController extends OwnedRoutes(EndpointsService, ENDPOINT_ID) {
  @Post()
  register(@CurrentPrincipal() p: Principal, @ZodBody(RegisterEndpointRequest) body: RegisterEndpointRequest) {
    return this.service.register(p, body);
  }

  @ById(Get(':id/status'))
  status(@CurrentPrincipal() p: Principal, @Id() id: string) {
    return this.service.status(p, id);
  }

  @ById(Patch(':id'))
  update(@CurrentPrincipal() p: Principal, @Id() id: string, @ZodBody(UpdateEndpointRequest) body: UpdateEndpointRequest) {
    return this.service.update(p, id, body);
  }

  /** A locked endpoint refuses new tasks with 409 ENDPOINT_LOCKED; tasks already queued still run. */
  @ById(Post(':id/lock'))
  @HttpCode(200)
  lock(@CurrentPrincipal() p: Principal, @Id() id: string) {
    return this.service.lock(p, id, true);
  }

  @ById(Post(':id/unlock'))
  @HttpCode(200)
  unlock(@CurrentPrincipal() p: Principal, @Id() id: string) {
    return this.service.lock(p, id, false);
  }
}
