import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../../config/env.js';
import { endpointOnline } from '../../endpoints/endpoints.service.js';
import { MetricsRepository, type EndpointPresence, type OpenTaskCount } from '../metrics.repository.js';
import { MetricsService } from '../metrics.service.js';
import { scrapedGauge, SharedRead } from './gauge-fill.js';

/**
 * Scrapes closer together than this share one read of the database: a scraper every second, or several
 * Prometheus servers, cost at most one grouped statement a second.
 */
const READ_TTL_MS = 1_000;

interface Snapshot {
  open: OpenTaskCount[];
  endpoints: EndpointPresence[];
}

/**
 * Figures read from PostgreSQL when scraped, so they are the deployment's, not this replica's: every
 * replica reports the same values (aggregate them with max, not sum). Open tasks per endpoint and
 * state, the queue depth (tasks waiting for an agent), and whether each endpoint's agent is online.
 */
@Injectable()
export class QueuesCollector {
  private readonly logger = new Logger('Metrics');
  private readonly snapshot: SharedRead<Snapshot>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_IDLE_HEARTBEAT_TIMEOUT_MS'>,
    private readonly metrics: MetricsService,
    private readonly repo: MetricsRepository,
  ) {
    this.snapshot = new SharedRead(async () => {
      try {
        const [open, endpoints] = await Promise.all([this.repo.openTaskCounts(), this.repo.endpointsSeen(this.metrics.endpoints.max)]);
        return { open, endpoints };
      } catch (e) {
        // the scrape goes on without these series (fx_database_up says why)
        this.logger.warn(`could not read the queues for the metrics: ${(e as Error).message}`);
        return { open: [], endpoints: [] };
      }
    }, READ_TTL_MS);
    if (!metrics.enabled) return;
    const registry = metrics.registry;
    const read = () => this.snapshot.get();
    const labels = metrics.endpoints;
    scrapedGauge(
      registry,
      {
        name: 'fx_queue_depth',
        help: "Tasks waiting in an endpoint's queue for an agent (state waiting-for-endpoint), from the database; 0 for endpoints that have had an agent and have none.",
        labelNames: ['endpoint'] as const,
      },
      async () => {
        const { open, endpoints } = await read();
        return [
          ...endpoints.map((e) => ({ labels: { endpoint: labels.of(e.id) }, value: 0 })),
          ...open.filter((r) => r.status === 'waiting-for-endpoint').map((r) => ({ labels: { endpoint: labels.of(r.endpoint_id) }, value: r.n })),
        ];
      },
    );
    scrapedGauge(
      registry,
      {
        name: 'fx_tasks_open',
        help: 'Tasks not yet final, by endpoint and state (received, waiting-for-*, dispatched, running), from the database.',
        labelNames: ['endpoint', 'state'] as const,
      },
      async () => (await read()).open.map((r) => ({ labels: { endpoint: labels.of(r.endpoint_id), state: r.status }, value: r.n })),
    );
    const timeoutMs = this.config.FX_IDLE_HEARTBEAT_TIMEOUT_MS;
    scrapedGauge(
      registry,
      {
        name: 'fx_endpoint_up',
        help: 'Whether the agent of an endpoint is online (connected, heartbeat within FX_IDLE_HEARTBEAT_TIMEOUT_MS): 1 or 0. Only endpoints that have had an agent.',
        labelNames: ['endpoint'] as const,
      },
      async () => {
        const now = Date.now();
        // past the cap an endpoint has no series of its own here: "other" cannot be up or down
        return (await read()).endpoints
          .filter((e) => labels.of(e.id) === e.id)
          .map((e) => ({
            labels: { endpoint: e.id },
            value: endpointOnline({ connectedAt: e.connected_at, disconnectedAt: e.disconnected_at, lastHeartbeatAt: e.last_heartbeat_at }, timeoutMs, now)
              ? 1
              : 0,
          }));
      },
    );
  }
}
