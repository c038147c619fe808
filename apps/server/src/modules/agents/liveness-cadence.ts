import type { AppConfig } from '../../config/env.js';
import type { EndpointConnection } from './endpoint-connection.js';

export type CadenceConfig = Pick<
  AppConfig,
  'FX_HEARTBEAT_INTERVAL_MS' | 'FX_HEARTBEAT_TIMEOUT_MS' | 'FX_IDLE_HEARTBEAT_INTERVAL_MS' | 'FX_IDLE_HEARTBEAT_TIMEOUT_MS'
>;

/** How often a connection is to be heard from, and how long it may be silent before it is taken for dead. */
export interface Cadence {
  intervalMs: number;
  timeoutMs: number;
}

/**
 * The normal cadence bounds how late a leased task is found lost (DESIGN.md); a connection that holds no
 * lease (EndpointConnection.idle) only has to be found gone eventually, so it keeps the idle one.
 */
export function cadenceOf(conn: Pick<EndpointConnection, 'idle'>, config: CadenceConfig): Cadence {
  return conn.idle
    ? { intervalMs: config.FX_IDLE_HEARTBEAT_INTERVAL_MS, timeoutMs: config.FX_IDLE_HEARTBEAT_TIMEOUT_MS }
    : { intervalMs: config.FX_HEARTBEAT_INTERVAL_MS, timeoutMs: config.FX_HEARTBEAT_TIMEOUT_MS };
}

/** How long the connection has been silent, counted from its wake-up when a lease ended an idle spell. */
export function silentMs(conn: Pick<EndpointConnection, 'lastSeen' | 'wokeAt'>, now: number): number {
  return now - Math.max(conn.lastSeen, conn.wokeAt);
}

/**
 * Tasks were just leased to this connection (dispatch, speculative copies). An idle one gets the normal
 * cadence back; if it has been quiet for a normal interval it is pinged now, and its silence counts from
 * now, so that a half-open connection is dropped within the normal timeout of the grant (not at once for
 * a silence the idle cadence allowed, nor only after the idle timeout).
 */
export function leaseGranted(conn: EndpointConnection, config: Pick<CadenceConfig, 'FX_HEARTBEAT_INTERVAL_MS'>, now = Date.now()): void {
  if (!conn.idle) return;
  conn.idle = false;
  if (now - conn.lastSeen < config.FX_HEARTBEAT_INTERVAL_MS) return;
  conn.wokeAt = now;
  if (conn.open) conn.ws.ping();
}
