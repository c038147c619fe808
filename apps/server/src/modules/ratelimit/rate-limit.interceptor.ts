import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import type { Observable } from 'rxjs';
import type { Principal } from '../auth/principal.js';
import { RateLimitService, rateLimited } from './rate-limit.service.js';

type Req = { principal?: Principal };
type Res = { setHeader(name: string, value: string): void };

/**
 * Rate limit per token on the REST API (RateLimitService): answered past it with 429 RATE_LIMITED and
 * `Retry-After` (seconds). It runs after the auth guard, so only authenticated requests count, per
 * token id. Public routes (/healthz, /readyz, docs) have no principal and are never limited. Websocket
 * frames are not HTTP and never pass here: the agents' and clients' result paths are exempt, and the
 * client socket's submit frames take from the same bucket themselves (clients/socket-submit.service.ts).
 */
@Injectable()
export class RateLimitInterceptor implements NestInterceptor {
  constructor(private readonly limits: RateLimitService) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (ctx.getType() === 'http') {
      const tokenId = ctx.switchToHttp().getRequest<Req>().principal?.tokenId;
      const seconds = tokenId ? this.limits.take(tokenId) : 0;
      if (seconds > 0) {
        ctx.switchToHttp().getResponse<Res>().setHeader('Retry-After', String(seconds));
        throw rateLimited(seconds);
      }
    }
    return next.handle();
  }
}
