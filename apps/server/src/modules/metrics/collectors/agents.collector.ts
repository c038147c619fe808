import { Injectable } from '@nestjs/common';
import type { HeartbeatPayload } from '@fx/protocol';
import { ConnectionRegistry } from '../../agents/connection-registry.service.js';
import type { EndpointConnection } from '../../agents/endpoint-connection.js';
import { SocketRegistry } from '../../auth/socket-registry.service.js';
import { MetricsService } from '../metrics.service.js';
import { scrapedGauge } from './gauge-fill.js';

type Reporting = EndpointConnection & { lastHeartbeat: NonNullable<EndpointConnection['lastHeartbeat']> };
type Block = NonNullable<HeartbeatPayload['blocks']>[number];

/** The agent's own figures, one gauge each, from its latest heartbeat (the agent has no port of its own). */
const HEARTBEAT_FIGURES: Array<{ name: string; help: string; value: (h: HeartbeatPayload, at: number) => number }> = [
  { name: 'fx_agent_workers', help: 'Workers the agent has (its latest heartbeat).', value: (h) => h.workers.total },
  { name: 'fx_agent_workers_busy', help: 'Workers running a task (its latest heartbeat).', value: (h) => h.workers.busy },
  { name: 'fx_agent_workers_idle', help: 'Workers waiting for a task (its latest heartbeat).', value: (h) => h.workers.idle },
  { name: 'fx_agent_tasks_queued', help: "Tasks waiting in the agent's own queue for a worker (its latest heartbeat).", value: (h) => h.queued },
  { name: 'fx_agent_tasks_running', help: 'Tasks the agent is running (its latest heartbeat).', value: (h) => h.running },
  {
    name: 'fx_agent_results_spooled',
    help: 'Results the agent holds on disk until the server acknowledges them (its latest heartbeat); growth means results are not getting through.',
    value: (h) => h.spooled,
  },
  {
    name: 'fx_agent_heartbeat_age_seconds',
    help: "Seconds since the agent's latest heartbeat reached this replica.",
    value: (_h, at) => (Date.now() - at) / 1000,
  },
];

/** Pilot blocks (Slurm) from the heartbeat's `blocks`: live ones only (it lists recently ended ones too, for accounting). */
const BLOCK_FIGURES: Array<{ name: string; help: string; value: (b: Block) => number }> = [
  {
    name: 'fx_agent_blocks',
    help: "The agent's pilot blocks (Slurm) that have not ended, by state: submitting, pending, running, cancelling.",
    value: () => 1,
  },
  { name: 'fx_agent_block_nodes', help: "Nodes held by the agent's pilot blocks that have not ended, by block state.", value: (b) => b.nodes },
];

const BLOCK_STATES = new Set(['submitting', 'pending', 'running', 'cancelling']);

/** The protocol lets `state` be any short string: values outside the known ones are one label value, not many. */
function boundedState(state: string): string {
  return BLOCK_STATES.has(state) ? state : 'unknown';
}

/**
 * The agents connected to this replica and what their heartbeats say, labelled by endpoint; and the
 * SDK and console sockets this replica holds. Per replica: sum them across replicas.
 */
@Injectable()
export class AgentsCollector {
  constructor(
    private readonly metrics: MetricsService,
    private readonly connections: ConnectionRegistry,
    private readonly sockets: SocketRegistry,
  ) {
    if (!metrics.enabled) return;
    const registry = metrics.registry;
    const labels = metrics.endpoints;
    scrapedGauge(registry, { name: 'fx_agents_connected', help: 'Agents connected to this replica (one per endpoint).', labelNames: [] }, () => [
      { labels: {}, value: this.open().length },
    ]);
    scrapedGauge(
      registry,
      { name: 'fx_clients_connected', help: 'Authenticated SDK (client) and console websockets open on this replica.', labelNames: ['channel'] as const },
      () => {
        const counts = this.sockets.countByChannel();
        return [
          { labels: { channel: 'client' }, value: counts.client },
          { labels: { channel: 'console' }, value: counts.console },
        ];
      },
    );
    for (const { name, help, value } of HEARTBEAT_FIGURES) {
      scrapedGauge(registry, { name, help, labelNames: ['endpoint'] as const }, () =>
        this.reporting().map((c) => ({ labels: { endpoint: labels.of(c.endpointId) }, value: value(c.lastHeartbeat.status, c.lastHeartbeat.at) })),
      );
    }
    for (const { name, help, value } of BLOCK_FIGURES) {
      scrapedGauge(registry, { name, help, labelNames: ['endpoint', 'state'] as const }, () =>
        this.reporting().flatMap((c) =>
          (c.lastHeartbeat.status.blocks ?? [])
            .filter((b) => b.state !== 'ended')
            .map((b) => ({ labels: { endpoint: labels.of(c.endpointId), state: boundedState(b.state) }, value: value(b) })),
        ),
      );
    }
  }

  private open(): EndpointConnection[] {
    return [...this.connections.all()].filter((c) => c.open);
  }

  private reporting(): Reporting[] {
    return this.open().filter((c): c is Reporting => !!c.lastHeartbeat);
  }
}
