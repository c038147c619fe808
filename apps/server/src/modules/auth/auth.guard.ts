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

type Req = { headers: Record<string, string | string[] | undefined>; principal?: Principal };

/**
 * Every REST route needs a user token unless marked @Public(). Endpoint tokens speak only the
 * endpoint channel, so they are refused here.
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
    if (principal.kind !== 'user') throw new FxException('FORBIDDEN', 'endpoint tokens may only connect to the endpoint channel');
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
