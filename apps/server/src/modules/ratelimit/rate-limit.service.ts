import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { FxException } from '../../common/fx.exception.js';
import { TokenBuckets } from './token-bucket.js';

/**
 * The per-token request budget (FX_RATE_LIMIT_PER_SECOND, bursts of FX_RATE_LIMIT_BURST): one bucket
 * per API token, shared by every way of submitting work with it (REST routes through
 * RateLimitInterceptor, submit frames on the client socket), so a second path cannot double the limit.
 */
@Injectable()
export class RateLimitService {
  private readonly buckets: TokenBuckets | null;

  constructor(@Inject(APP_CONFIG) config: Pick<AppConfig, 'FX_RATE_LIMIT_PER_SECOND' | 'FX_RATE_LIMIT_BURST'>) {
    this.buckets = config.FX_RATE_LIMIT_PER_SECOND > 0 ? new TokenBuckets(config.FX_RATE_LIMIT_PER_SECOND, config.FX_RATE_LIMIT_BURST) : null;
  }

  /** Takes one request from the token's bucket: 0 when allowed, else the whole seconds to wait (at least 1). */
  take(tokenId: string): number {
    const waitMs = this.buckets ? this.buckets.take(tokenId) : 0;
    return waitMs > 0 ? Math.max(1, Math.ceil(waitMs / 1000)) : 0;
  }

  /** Takes one request, or throws RATE_LIMITED with `retryAfterSeconds` (what REST says in `Retry-After`). */
  consume(tokenId: string): void {
    const seconds = this.take(tokenId);
    if (seconds > 0) throw rateLimited(seconds);
  }
}

export const rateLimited = (seconds: number) =>
  new FxException('RATE_LIMITED', `too many requests with this token; retry in ${seconds} s`, { retryAfterSeconds: seconds });
