import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { holdsNoTasks, type HeartbeatPayload } from '@fx/protocol';
import { APP_CONFIG } from '../../config/env.js';
import { EndpointsRepository } from '../endpoints/endpoints.repository.js';
import { EventsService } from '../events/events.service.js';
import { LeaseService } from '../leases/lease.service.js';
import { ConnectionRegistry } from './connection-registry.service.js';
import type { EndpointConnection } from './endpoint-connection.js';
import { cadenceOf, leaseGranted, silentMs, type CadenceConfig } from './liveness-cadence.js';
import { EndpointBlocksRepository } from '../accounting/endpoint-blocks.repository.js';
import { blockRows } from '../accounting/accounting-rows.js';

/** Heartbeats after a connection's first are written in batches gathered over this long. */
export const HEARTBEAT_COALESCE_MS = 1_000;

/**
 * Whether the agents of this replica are alive. Heartbeats record the agent's status and extend the
 * leases of its connection; a connection not heard from (frames, heartbeats, pongs) within
 * FX_HEARTBEAT_TIMEOUT_MS is dropped, and one quiet for a heartbeat interval is pinged. The leases of a
 * dropped connection then run out, and the recovery sweep requeues their tasks.
 *
 * An agent that said `pongHeartbeats` in its hello sends `heartbeat` frames only when its status changed:
 * it is pinged once an interval whatever else it sends, and its pong (or its own ping) counts as a
 * heartbeat with the status it last reported — one frame each way per interval for an idle agent,
 * instead of a heartbeat, a ping and a pong (bench/README.md, issue 18).
 *
 * A connection whose agent reported no task, and that was leased none since (EndpointConnection.idle),
 * keeps the idle cadence instead: pinged once per FX_IDLE_HEARTBEAT_INTERVAL_MS, dropped after
 * FX_IDLE_HEARTBEAT_TIMEOUT_MS. It has no lease whose recovery the normal cadence bounds. A lease given
 * to it brings the normal cadence back at once (granted).
 */
@Injectable()
export class AgentLivenessService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('EndpointChannel');
  private liveness?: NodeJS.Timeout;
  private readonly heartbeatSeen = new WeakSet<EndpointConnection>();
  /** Gathered for the next flush: the status to store (none yet for a pong before the first heartbeat). */
  private readonly heartbeats = new Map<EndpointConnection, Omit<HeartbeatPayload, 'blocks'> | undefined>();
  private heartbeatTimer?: NodeJS.Timeout;

  constructor(
    @Inject(APP_CONFIG) private readonly config: CadenceConfig,
    private readonly endpoints: EndpointsRepository,
    private readonly leases: LeaseService,
    private readonly events: EventsService,
    private readonly connections: ConnectionRegistry,
    private readonly blocks: EndpointBlocksRepository,
  ) {}

  onModuleInit(): void {
    // One timer for every connection on this replica, not one per agent. Twice an interval, so that a
    // pong-heartbeat agent is pinged every interval (see check) and none waits past 1.25 intervals.
    this.liveness = setInterval(() => this.check(), Math.ceil(this.config.FX_HEARTBEAT_INTERVAL_MS / 2));
    this.liveness.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.liveness);
    clearTimeout(this.heartbeatTimer);
  }

  /**
   * Anything the agent sends, a pong included, says it is alive. From a `pongHeartbeats` agent, a pong
   * (or a ping: it pings when it heard nothing from this server for a while) is also a heartbeat.
   */
  watch(conn: EndpointConnection): void {
    conn.ws.on('pong', () => this.control(conn));
    conn.ws.on('ping', () => conn.pongHeartbeats && this.control(conn));
  }

  private control(conn: EndpointConnection): void {
    this.heard(conn);
    if (conn.pongHeartbeats) this.pongBeat(conn);
  }

  /** A heartbeat without a frame: the leases and `last_heartbeat_at` are refreshed in the next flush, with the status last reported. */
  pongBeat(conn: EndpointConnection): void {
    conn.lastBeat = Date.now();
    // the status stands as last reported; its age (fx_agent_heartbeat_age_seconds) is this pong's
    if (conn.lastHeartbeat) conn.lastHeartbeat.at = conn.lastBeat;
    const last = conn.lastHeartbeat?.status;
    this.heartbeats.set(conn, last ? withoutBlocks(last) : undefined);
    this.heartbeatTimer ??= setTimeout(() => void this.flushHeartbeats(), HEARTBEAT_COALESCE_MS);
  }

  heard(conn: EndpointConnection): void {
    conn.lastSeen = Date.now();
  }

  async heartbeat(conn: EndpointConnection, payload: HeartbeatPayload): Promise<void> {
    conn.lastHeartbeat = { at: Date.now(), status: payload };
    conn.lastBeat = conn.lastHeartbeat.at;
    conn.idle = holdsNoTasks(payload);
    // Blocks go to their own table (accounting), not into the endpoint's stored status.
    const { blocks } = payload;
    const status = withoutBlocks(payload);
    if (blocks && blocks.length > 0) await this.recordBlocks(conn, blocks);
    if (!this.heartbeatSeen.has(conn)) {
      // The first on a connection is written at once, so live views show the agent's status now.
      this.heartbeatSeen.add(conn);
      await this.endpoints.recordHeartbeat(conn.endpointId, status);
      this.events.noteEndpointChanged(conn.endpointId);
      await this.leases.extend(conn.id);
      return;
    }
    // Later ones only refresh: gathered for HEARTBEAT_COALESCE_MS, then two statements for all.
    this.heartbeats.set(conn, status);
    this.heartbeatTimer ??= setTimeout(() => void this.flushHeartbeats(), HEARTBEAT_COALESCE_MS);
  }

  /**
   * One UPDATE of endpoints and one lease extension for every heartbeat gathered: 1,000 idle agents cost
   * two statements a second, not 400. A failure is only logged: the next heartbeats try again, well
   * before any lease (FX_HEARTBEAT_TIMEOUT_MS > 2 × the interval) runs out.
   */
  async flushHeartbeats(): Promise<void> {
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    const batch = [...this.heartbeats];
    this.heartbeats.clear();
    if (batch.length === 0) return;
    // a pong that came before the connection's first heartbeat has no status to store: leases only
    const reported = batch.flatMap(([c, status]) => (status ? [{ id: c.endpointId, status }] : []));
    try {
      await this.endpoints.recordHeartbeats(reported);
      await this.leases.extend(batch.map(([c]) => c.id));
      for (const { id } of reported) this.events.noteEndpointChanged(id);
    } catch (e) {
      this.logger.warn(`could not record ${batch.length} heartbeats: ${(e as Error).message}`);
    }
  }

  /** One statement per heartbeat that carries blocks, for its own endpoint only; a failure is only logged (the next report repeats it). */
  private async recordBlocks(conn: EndpointConnection, blocks: NonNullable<HeartbeatPayload['blocks']>): Promise<void> {
    try {
      await this.blocks.upsert(conn.endpointId, blockRows(blocks));
    } catch (e) {
      this.logger.warn({ msg: 'could not record the blocks of a heartbeat', endpointId: conn.endpointId, connId: conn.id, err: e });
    }
  }

  /** Tasks were just leased to this connection: see leaseGranted. */
  granted(conn: EndpointConnection, now = Date.now()): void {
    leaseGranted(conn, this.config, now);
  }

  /**
   * Drops the connections not heard from within their timeout, and pings the quiet ones, and the
   * pong-heartbeat ones whose leases were last extended 3/4 of an interval ago or more: with this check
   * twice a (normal) interval, one pinged at a check is pinged again two checks later, once an interval,
   * even when its pong takes a while, and a frame it sends meanwhile (which extends no lease) changes
   * nothing. An idle connection has no lease to extend: it is pinged once its idle interval has passed.
   */
  check(now = Date.now()): void {
    for (const conn of this.connections.all()) {
      const { intervalMs, timeoutMs } = cadenceOf(conn, this.config);
      const beatDue = conn.idle ? intervalMs : (intervalMs * 3) / 4;
      // one whose socket is not read (the server is behind on its frames: InboundBudget) is not silent
      if (silentMs(conn, now) > timeoutMs && !conn.inbound.isPaused) {
        this.logger.warn({
          msg: 'no word from the agent; dropping the connection',
          endpointId: conn.endpointId,
          connId: conn.id,
          silentMs: now - conn.lastSeen,
          idle: conn.idle,
        });
        conn.ws.terminate();
      } else if (conn.open && (now - conn.lastSeen >= intervalMs || (conn.pongHeartbeats && now - conn.lastBeat >= beatDue))) {
        // otherwise only quiet connections: an agent heard within the interval (heartbeats, pongs) is alive
        conn.ws.ping();
      }
    }
  }
}

function withoutBlocks(payload: HeartbeatPayload): Omit<HeartbeatPayload, 'blocks'> {
  const { blocks: _blocks, ...status } = payload;
  return status;
}
