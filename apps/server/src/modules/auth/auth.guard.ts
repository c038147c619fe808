import { CanActivate, ExecutionContext, Injectable, SetMetadata, createParamDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { FxException } from '../../common/fx.exception.js';
import { AuthService } from './auth.service.js';
import type { Principal } from './principal.js';

const PUBLIC = 'fx:public';
const ADMIN = 'fx:admin';
/** The route needs no token (health probes, docs). */
export const Public = () => SetMetadata(PUBLIC, true);
/** The route needs an admin user token. */
export const AdminOnly = () => SetMetadata(ADMIN, true);
const ENDPOINTS_TOO = 'fx:endpoints-too';
/**
 * Endpoint tokens may call this route too (an agent fetching a task's input objects, or storing its
 * result): the service then decides what that endpoint may touch, which is never more than its
 * leased tasks need.
 */
export const EndpointsToo = () => SetMetadata(ENDPOINTS_TOO, true);

type Req = { headers: Record<string, string | string[] | undefined>; principal?: Principal };

/**
 * Every REST route needs a user token unless marked @Public(). Endpoint tokens speak only the
 * endpoint channel, so they are refused here, except on the few routes marked @EndpointsToo().
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly auth: AuthService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, targets)) return true;
    const req = ctx.switchToHttp().getRequest<Req>();
    // bodyGate verified the token already when the request carried a body
    const principal = req.principal ?? (await this.auth.verify(AuthService.bearer(req.headers.authorization)));
    if (principal.kind !== 'user' && !this.reflector.getAllAndOverride<boolean>(ENDPOINTS_TOO, targets))
      throw new FxException('FORBIDDEN', 'endpoint tokens may only connect to the endpoint channel (and fetch or store the objects of their tasks)');
    if (this.reflector.getAllAndOverride<boolean>(ADMIN, targets) && !principal.admin) {
      throw new FxException('FORBIDDEN', 'this route is for administrators');
    }
    req.principal = principal;
    return true;
  }
}

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const p = ctx.switchToHttp().getRequest<Req>().principal;
  if (!p) throw new FxException('UNAUTHENTICATED', 'no principal on this request');
  return p;
});
