import { canonicalJson, type HeartbeatPayload } from '@fx/protocol';

/**
 * With a server that takes pongs for heartbeats, an unchanged status still goes out every this many
 * intervals (30 s at the default 5 s): whatever the server lost of it (a status overwritten, a write
 * that failed) is set right within that time, for one small frame per agent every 30 s.
 */
export const HEARTBEAT_REFRESH_INTERVALS = 6;

/**
 * How much past an interval the agent lets the server's pings be late before it pings the server itself:
 * the two sides' timers drift, and a ping a few milliseconds late must not draw one of ours.
 */
const HEARD_GRACE = 1.5;

/**
 * What one connection's heartbeat timer sends at each tick. Against a server that advertised
 * `pongHeartbeats` (welcome), the server pings this agent once an interval and counts its pong as a
 * heartbeat, so the agent sends a `heartbeat` frame only when its status changed since the last one
 * (or every HEARTBEAT_REFRESH_INTERVALS ticks), and its own ping only when the server has been silent
 * past an interval. Against an older server: both at every tick, as before.
 */
export class HeartbeatPacer {
  private lastSent?: string;
  private unchanged = 0;

  constructor(
    private readonly pongHeartbeats: boolean,
    private readonly intervalMs: number,
  ) {}

  /** Whether this tick's heartbeat goes out. */
  sendHeartbeat(payload: HeartbeatPayload): boolean {
    if (!this.pongHeartbeats) return true;
    const serialized = canonicalJson(payload);
    if (serialized === this.lastSent && ++this.unchanged < HEARTBEAT_REFRESH_INTERVALS) return false;
    this.lastSent = serialized;
    this.unchanged = 0;
    return true;
  }

  /** Whether the agent pings the server at this tick, `silentMs` after it last heard from it. */
  sendPing(silentMs: number): boolean {
    return !this.pongHeartbeats || silentMs > this.intervalMs * HEARD_GRACE;
  }
}
