import { canonicalJson, holdsNoTasks, type HeartbeatPayload } from '@fx/protocol';

/**
 * With a server that takes pongs for heartbeats, an unchanged status still goes out every this many
 * intervals (30 s at the default 5 s; idle intervals while the agent holds no task): whatever the server
 * lost of it (a status overwritten, a write that failed) is set right within that time, for one small
 * frame per agent every 30 s (3 min idle).
 */
export const HEARTBEAT_REFRESH_INTERVALS = 6;

/**
 * How much past an interval the agent lets the server's pings be late before it pings the server itself:
 * the two sides' timers drift, and a ping a few milliseconds late must not draw one of ours.
 */
const HEARD_GRACE = 1.5;

/** How often the server is to be heard from, and how long its silence may last before the agent reconnects. */
export interface Cadence {
  intervalMs: number;
  timeoutMs: number;
}

/**
 * What one connection's heartbeat timer sends at each tick. Against a server that advertised
 * `pongHeartbeats` (welcome), the server pings this agent once an interval and counts its pong as a
 * heartbeat, so the agent sends a `heartbeat` frame only when its status changed since the last one
 * (or every HEARTBEAT_REFRESH_INTERVALS intervals), and its own ping only when the server has been silent
 * past an interval. Against an older server: both at every tick, as before.
 *
 * A server that also advertised an idle cadence (welcome.idleHeartbeatIntervalMs) pings an agent that
 * holds no task only once an idle interval: while the last status says so (holdsNoTasks), the agent's
 * silence thresholds are the idle ones, or it would take that quiet for a dead server. The ticks stay
 * at the normal interval, so a task that arrives brings the normal thresholds back within one.
 */
export class HeartbeatPacer {
  private lastSent?: string;
  private unchanged = 0;
  private idle = false;

  constructor(
    private readonly pongHeartbeats: boolean,
    private readonly intervalMs: number,
    private readonly timeoutMs = Infinity,
    private readonly idleCadence?: Cadence,
  ) {}

  /** The thresholds in force, as of the last status given to sendHeartbeat. */
  get cadence(): Cadence {
    return this.idle && this.idleCadence ? this.idleCadence : { intervalMs: this.intervalMs, timeoutMs: this.timeoutMs };
  }

  /** Whether this tick's heartbeat goes out. */
  sendHeartbeat(payload: HeartbeatPayload): boolean {
    if (!this.pongHeartbeats) return true;
    this.idle = this.idleCadence !== undefined && holdsNoTasks(payload);
    const serialized = canonicalJson(payload);
    const refreshTicks = HEARTBEAT_REFRESH_INTERVALS * Math.max(1, Math.round(this.cadence.intervalMs / this.intervalMs));
    if (serialized === this.lastSent && ++this.unchanged < refreshTicks) return false;
    this.lastSent = serialized;
    this.unchanged = 0;
    return true;
  }

  /** Whether the agent pings the server at this tick, `silentMs` after it last heard from it. */
  sendPing(silentMs: number): boolean {
    return !this.pongHeartbeats || silentMs > this.cadence.intervalMs * HEARD_GRACE;
  }

  /** Whether the server has been silent past the timeout in force: the agent drops the connection and dials again. */
  timedOut(silentMs: number): boolean {
    return silentMs > this.cadence.timeoutMs;
  }
}
