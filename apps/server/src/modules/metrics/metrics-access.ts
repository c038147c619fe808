import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { ErrorCode } from '@fx/protocol';

export type MetricsMode = 'loopback' | 'open' | 'off';

/** What the decision reads of a request. */
export interface MetricsRequest {
  /** The socket's peer address, as Node gives it (`::ffff:127.0.0.1` for IPv4 on a dual-stack socket). */
  remoteAddress: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}

export type MetricsDecision = { allow: true } | { allow: false; code: Extract<ErrorCode, 'UNAUTHENTICATED' | 'FORBIDDEN' | 'NOT_FOUND'>; message: string };

/** 127.0.0.0/8 and ::1, in any of the spellings a Node socket reports them. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const bare = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1' || bare === '0:0:0:0:0:0:0:1';
}

/** The same length whatever the input, so comparing them takes the same time whatever the guess. */
const digest = (text: string) => createHash('sha256').update(text).digest();

function bearer(headers: MetricsRequest['headers']): string | undefined {
  const h = headers['authorization'];
  const value = Array.isArray(h) ? h[0] : h;
  const m = value ? /^Bearer\s+(.+)$/i.exec(value.trim()) : null;
  return m?.[1];
}

/**
 * Whether this request may read /metrics (FX_METRICS, FX_METRICS_TOKEN). A request that came through a
 * proxy (a `Forwarded` or `X-Forwarded-For` header) is not treated as loopback even when the proxy
 * runs on this host: otherwise a reverse proxy in front of FX would open the metrics to the world.
 */
export function decideMetricsAccess(mode: MetricsMode, token: string | undefined, req: MetricsRequest): MetricsDecision {
  if (mode === 'off') return { allow: false, code: 'NOT_FOUND', message: 'metrics are switched off on this server (FX_METRICS=off)' };
  if (mode === 'open') return { allow: true };
  const given = bearer(req.headers);
  if (token !== undefined && given !== undefined && timingSafeEqual(digest(given), digest(token))) return { allow: true };
  const forwarded = req.headers['forwarded'] !== undefined || req.headers['x-forwarded-for'] !== undefined;
  if (isLoopback(req.remoteAddress) && !forwarded) return { allow: true };
  if (token === undefined)
    return {
      allow: false,
      code: 'FORBIDDEN',
      message: 'metrics are served to loopback only (127.0.0.1, ::1): set FX_METRICS_TOKEN to scrape from other addresses, or FX_METRICS=open',
    };
  if (given === undefined)
    return { allow: false, code: 'UNAUTHENTICATED', message: 'metrics from a non-loopback address need the bearer token set in FX_METRICS_TOKEN' };
  return { allow: false, code: 'FORBIDDEN', message: 'that bearer token is not the metrics token (FX_METRICS_TOKEN)' };
}
