import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { ENDPOINT_CLOSE as CLOSE, ENDPOINT_PROTOCOL_VERSION, FrameError, type AgentInfo, type EndpointToServer } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { closeReason } from '../../common/close-reason.js';
import { EndpointRoutingService } from '../endpoint-groups/endpoint-routing.service.js';
import { EndpointsRepository } from '../endpoints/endpoints.repository.js';
import { EventsService } from '../events/events.service.js';
import { LeaseService } from '../leases/lease.service.js';
import { ConnectionRegistry } from './connection-registry.service.js';
import { EndpointConnection, refuse } from './endpoint-connection.js';
import { cadenceOf, silentMs } from './liveness-cadence.js';

/**
 * An agent's session on the endpoint channel, from `hello` to close: which agent may serve the
 * endpoint (one at a time; --takeover replaces the running one), what becomes of the tasks it held
 * before (kept, or requeued), and the endpoint row's connected state.
 */
@Injectable()
export class AgentSessionService implements OnModuleInit {
  private readonly logger = new Logger('EndpointChannel');

  constructor(
    @Inject(APP_CONFIG)
    private readonly config: Pick<
      AppConfig,
      | 'FX_HEARTBEAT_INTERVAL_MS'
      | 'FX_HEARTBEAT_TIMEOUT_MS'
      | 'FX_IDLE_HEARTBEAT_INTERVAL_MS'
      | 'FX_IDLE_HEARTBEAT_TIMEOUT_MS'
      | 'FX_MAX_TASKS_PER_FRAME'
      | 'FX_MAX_RESULT_BYTES'
      | 'FX_INLINE_RESULT_BYTES'
      | 'DATABASE_URL'
    >,
    private readonly endpoints: EndpointsRepository,
    private readonly events: EventsService,
    private readonly leases: LeaseService,
    private readonly connections: ConnectionRegistry,
    private readonly routing: EndpointRoutingService,
  ) {}

  onModuleInit(): void {
    // A connection accepted on another replica replaces this replica's connection of the endpoint.
    this.events.on('agent-replaced', ({ endpointId, keep, takeover, message }) => {
      const conn = this.connections.current(endpointId);
      if (conn && conn.id !== keep) this.replace(conn, takeover, message);
    });
  }

  /** Whether the endpoint an endpoint token is bound to still exists. */
  async endpointExists(endpointId: string): Promise<boolean> {
    return !!(await this.endpoints.findLive(endpointId));
  }

  /** Welcomes the agent; false when it was refused (another agent serves the endpoint) and the socket closes. */
  async hello(conn: EndpointConnection, hello: EndpointToServer['hello']): Promise<boolean> {
    if (hello.protocolVersion !== ENDPOINT_PROTOCOL_VERSION) {
      throw new FrameError(
        'UNSUPPORTED_PROTOCOL_VERSION',
        `this server speaks endpoint protocol version ${ENDPOINT_PROTOCOL_VERSION}; the agent speaks ${hello.protocolVersion}: run an fx-endpoint of the same FX release as the server`,
      );
    }
    conn.instanceId = hello.instanceId;
    conn.agent = hello.agent;
    conn.pongHeartbeats = hello.pongHeartbeats === true;
    // Checked before anything changes: a refused agent must not requeue the running one's tasks.
    const other = await this.otherLiveAgent(conn);
    if (other && !hello.takeover) {
      this.logger.warn({
        msg: `refused a second agent: ${other}`,
        endpointId: conn.endpointId,
        connId: conn.id,
        agentHost: hello.agent.hostname,
        agentPid: hello.agent.pid,
      });
      refuse(conn.ws, 'CONFLICT', `${other}; stop it first, or start this agent with --takeover to replace it`, CLOSE.replaced);
      return false;
    }
    if (!conn.open) return false;
    const takeover = !!other;
    const message = takeover
      ? `endpoint ${conn.endpointId} was taken over by another agent (${hello.agent.hostname}, pid ${hello.agent.pid}); this one stops`
      : 'replaced by a newer connection of the same agent';
    // The old agent goes before its tasks are requeued, wherever it is connected.
    const previous = this.connections.attach(conn);
    if (previous && previous !== conn) this.replace(previous, takeover, message);
    await this.events.publish('agent-replaced', { endpointId: conn.endpointId, keep: conn.id, takeover, message });
    const { forget, ...lost } = await this.leases.reconcile(conn, hello.inFlight);
    await this.endpoints.markConnected(conn.endpointId, {
      ...hello.agent,
      ...(hello.instanceId ? { instanceId: hello.instanceId } : {}),
      // group routing reads it (endpoint-routing.repository memberLoads): known before any heartbeat
      ...(hello.ownerOnly ? { ownerOnly: true } : {}),
      connectionId: conn.id,
    });
    this.events.noteEndpointChanged(conn.endpointId);
    const endpoint = await this.endpoints.findLive(conn.endpointId);
    if (hello.ownerOnly && endpoint) {
      conn.onlyOwner = endpoint.ownerId;
      // other users' tasks routed here while its agent was unheard of: moved before it can ask for any
      await this.routing.rehomeForeign(conn.endpointId, endpoint.ownerId);
    }
    conn.send('welcome', {
      endpointId: conn.endpointId,
      endpointName: endpoint?.name ?? '',
      heartbeatIntervalMs: this.config.FX_HEARTBEAT_INTERVAL_MS,
      heartbeatTimeoutMs: this.config.FX_HEARTBEAT_TIMEOUT_MS,
      maxTasksPerFrame: this.config.FX_MAX_TASKS_PER_FRAME,
      maxResultBytes: this.config.FX_MAX_RESULT_BYTES,
      inlineResultBytes: this.config.FX_INLINE_RESULT_BYTES,
      forget,
      allowedFunctions: endpoint?.restricted ? endpoint.allowedFunctions : null,
      ...(endpoint ? { ownerId: endpoint.ownerId } : {}),
      pongHeartbeats: true,
      idleHeartbeatIntervalMs: this.config.FX_IDLE_HEARTBEAT_INTERVAL_MS,
      idleHeartbeatTimeoutMs: this.config.FX_IDLE_HEARTBEAT_TIMEOUT_MS,
    });
    const facts = {
      endpointId: conn.endpointId,
      connId: conn.id,
      agentHost: hello.agent.hostname,
      agentPid: hello.agent.pid,
      inFlight: hello.inFlight.length,
      requeued: lost.requeued.length,
    };
    this.logger.log({ msg: takeover ? 'agent connected, taking over' : 'agent connected', ...facts });
    await this.leases.requeue(lost);
    return true;
  }

  /**
   * The socket closed (`code`: its close code). Leases stay until they expire: an agent that comes back
   * in time keeps its running tasks. Its waiting tasks sent to endpoint groups move to other members now.
   */
  closed(conn: EndpointConnection, code: number): void {
    if (!this.connections.detach(conn)) return;
    this.logger.log({ msg: 'agent disconnected', endpointId: conn.endpointId, connId: conn.id, code });
    void this.endpoints
      .markDisconnected(conn.endpointId, conn.id)
      .then(async () => {
        this.events.noteEndpointChanged(conn.endpointId);
        await this.routing.rehome([conn.endpointId]);
      })
      .catch(() => undefined);
  }

  /**
   * A sentence naming the other agent instance that serves this endpoint now, if there is one: on this
   * replica (a connection heard from within its heartbeat timeout, the idle one if it holds no task), or
   * on another (the endpoint row's agent, with a heartbeat within the idle timeout: the row does not say
   * whether that agent is idle). A reconnect of the same instance, or an agent too old to say which
   * instance it is, is not "another".
   */
  private async otherLiveAgent(conn: EndpointConnection): Promise<string | undefined> {
    if (!conn.instanceId) return undefined;
    const now = Date.now();
    const fresh = now - this.config.FX_IDLE_HEARTBEAT_TIMEOUT_MS;
    const local = this.connections.current(conn.endpointId);
    if (local && local !== conn && local.open && silentMs(local, now) <= cadenceOf(local, this.config).timeoutMs) {
      if (!local.instanceId || local.instanceId === conn.instanceId) return undefined;
      return describeAgent(conn.endpointId, local.agent, local.since);
    }
    // The embedded store serves one replica only: what this replica holds is the whole truth, and a row
    // left "connected" by a server that was killed must not refuse an agent restarted with it.
    if (!this.config.DATABASE_URL) return undefined;
    const row = await this.endpoints.findLive(conn.endpointId);
    const agent = row?.agent as (AgentInfo & { instanceId?: string }) | null | undefined;
    if (!row || !agent?.instanceId || agent.instanceId === conn.instanceId) return undefined;
    const connected = row.connectedAt && (!row.disconnectedAt || row.disconnectedAt < row.connectedAt);
    const heard = Math.max(row.lastHeartbeatAt?.getTime() ?? 0, row.connectedAt?.getTime() ?? 0);
    if (!connected || heard <= fresh) return undefined;
    return describeAgent(conn.endpointId, agent, row.connectedAt ?? undefined);
  }

  /** Closes an agent connection that another one replaced; after a takeover, the old agent is told to stop. */
  private replace(old: EndpointConnection, takeover: boolean, message: string): void {
    if (takeover) refuse(old.ws, 'CONFLICT', message, CLOSE.takenOver);
    else old.ws.close(CLOSE.replaced, closeReason(message));
  }
}

function describeAgent(endpointId: string, agent: AgentInfo | undefined, since: Date | undefined): string {
  const who = agent ? `on host ${agent.hostname}, pid ${agent.pid}` : 'of unknown origin';
  return `endpoint ${endpointId} is already served by another agent (${who}, connected since ${since?.toISOString() ?? 'an unknown time'})`;
}
