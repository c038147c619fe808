import { CallHandler, ExecutionContext, Inject, Injectable, NestInterceptor } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { FxException } from '../../common/fx.exception.js';
import type { Principal } from '../auth/principal.js';
import { TokenBuckets } from './token-bucket.js';

type Req = { principal?: Principal };
type Res = { setHeader(name: string, value: string): void };

/**
 * Rate limit per token on the REST API: FX_RATE_LIMIT_PER_SECOND requests a second with bursts of
 * FX_RATE_LIMIT_BURST, answered past that with 429 RATE_LIMITED and `Retry-After` (seconds). It runs
 * after the auth guard, so only authenticated requests count, per token id. Public routes (/healthz,
 * /readyz, docs) have no principal and are never limited; websocket frames are not HTTP and never
 * pass here, so the agents' and clients' hot paths are exempt.
 */
@Injectable()
export class RateLimitInterceptor implements NestInterceptor {
  private readonly buckets: TokenBuckets | null;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.buckets = config.FX_RATE_LIMIT_PER_SECOND > 0 ? new TokenBuckets(config.FX_RATE_LIMIT_PER_SECOND, config.FX_RATE_LIMIT_BURST) : null;
  }

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (this.buckets && ctx.getType() === 'http') {
      const tokenId = ctx.switchToHttp().getRequest<Req>().principal?.tokenId;
      const waitMs = tokenId ? this.buckets.take(tokenId) : 0;
      if (waitMs > 0) {
        const seconds = Math.max(1, Math.ceil(waitMs / 1000));
        ctx.switchToHttp().getResponse<Res>().setHeader('Retry-After', String(seconds));
        throw new FxException('RATE_LIMITED', `too many requests with this token; retry in ${seconds} s`, { retryAfterSeconds: seconds });
      }
    }
    return next.handle();
  }
}
