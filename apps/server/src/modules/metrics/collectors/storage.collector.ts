import { Inject, Injectable } from '@nestjs/common';
import { BROKER, DATABASE } from '../../../storage/storage.module.js';
import type { Broker } from '../../../storage/broker.js';
import type { Database } from '../../../storage/database.js';
import { MetricsService } from '../metrics.service.js';
import { scrapedGauge } from './gauge-fill.js';

/** A health check that has not answered by then counts as down: a scrape must not hang on a dead store. */
const HEALTH_TIMEOUT_MS = 2_000;

/** Whether the database and the broker answer this replica, and how its connection pool is used. */
@Injectable()
export class StorageCollector {
  constructor(metrics: MetricsService, @Inject(DATABASE) db: Database, @Inject(BROKER) broker: Broker) {
    if (!metrics.enabled) return;
    const registry = metrics.registry;
    const stores = [
      { name: 'fx_database_up', what: 'the database answers a trivial query', kinds: 'postgres, embedded-postgres, pglite', store: db },
      { name: 'fx_broker_up', what: 'the broker answers', kinds: 'redis, memory', store: broker },
    ];
    for (const { name, what, kinds, store } of stores) {
      const help = `Whether ${what} from this replica within 2 s: 1 or 0 (kind: ${kinds}).`;
      scrapedGauge(registry, { name, help, labelNames: ['kind'] as const }, async () => [
        { labels: { kind: store.kind }, value: (await answersWithin(() => store.health())) ? 1 : 0 },
      ]);
    }
    const pool = db.poolUse?.bind(db);
    if (!pool) return;
    scrapedGauge(
      registry,
      {
        name: 'fx_database_pool_connections',
        help: "Connections of this replica's database pool, by state: busy (running a statement) or idle.",
        labelNames: ['state'] as const,
      },
      () => {
        const use = pool();
        return [
          { labels: { state: 'busy' }, value: use.total - use.idle },
          { labels: { state: 'idle' }, value: use.idle },
        ];
      },
    );
    const figures = [
      { name: 'fx_database_pool_max', help: "Most connections this replica's database pool opens (DATABASE_POOL_SIZE).", value: () => pool().max },
      {
        name: 'fx_database_pool_waiting',
        help: 'Statements waiting for a free connection of the pool; lasting values mean the pool is too small or the database too slow.',
        value: () => pool().waiting,
      },
    ];
    for (const { name, help, value } of figures) scrapedGauge(registry, { name, help, labelNames: [] }, () => [{ labels: {}, value: value() }]);
  }
}

async function answersWithin(check: () => Promise<boolean>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), HEALTH_TIMEOUT_MS)));
  try {
    return await Promise.race([check().catch(() => false), late]);
  } finally {
    clearTimeout(timer);
  }
}
