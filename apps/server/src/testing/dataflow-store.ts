import { randomUUID } from 'node:crypto';
import type { AppConfig } from '../config/env.js';
import { CacheRepository } from '../modules/cache/cache.repository.js';
import { CacheService } from '../modules/cache/cache.service.js';
import { DependenciesRepository } from '../modules/dependencies/dependencies.repository.js';
import { DependenciesService } from '../modules/dependencies/dependencies.service.js';
import type { EventsService } from '../modules/events/events.service.js';
import type { MetricsService } from '../modules/metrics/metrics.service.js';
import type { QueueService } from '../modules/tasks/queue.service.js';
import { TasksRepository, type OutcomeRow, type QueuedRow } from '../modules/tasks/tasks.repository.js';
import type { NewTask } from '../modules/tasks/task-records.js';
import { openTestStore, type TestStoreKind } from './test-store.js';

export const DATAFLOW_CONFIG = { FX_MAX_FRAME_BYTES: 8 * 1024 * 1024, FX_CACHE_DEFAULT_TTL_SECONDS: 600, FX_CACHE_MAX_TTL_SECONDS: 3600 } as AppConfig;

/**
 * A fresh store with the dataflow rules over its real statements: the user `owner`, its js function
 * `fn` (content hash `contentHash`) and, with `ep`, its endpoint, and DependenciesService with
 * recorders for the queue and the events: `queued` holds the ids that reached the queue (what would
 * reach an endpoint), `published` the outcomes published.
 */
export async function openDataflowStore(kind: TestStoreKind, { owner, fn, ep, contentHash }: { owner: string; fn: string; ep?: string; contentHash: string }) {
  const queued: string[] = [];
  const published: OutcomeRow[] = [];
  const store = await openTestStore(kind);
  const db = store.db;
  const queue = { enqueue: async (rows: QueuedRow[]) => void queued.push(...rows.map((r) => r.id)) } as unknown as QueueService;
  const events = { publishOutcomes: async (rows: OutcomeRow[]) => void published.push(...rows) } as unknown as EventsService;
  const metrics = { finished: () => undefined } as unknown as MetricsService;
  const deps = new DependenciesRepository(db);
  const cache = new CacheService(DATAFLOW_CONFIG, new CacheRepository(db), queue);
  const service = new DependenciesService(DATAFLOW_CONFIG, deps, queue, events, metrics, cache);
  await db.prisma.user.create({ data: { id: owner, name: `u-${owner.slice(0, 8)}` } });
  await db.prisma.function.create({ data: { id: fn, ownerId: owner, name: 'f', runtime: 'js', source: '() => 1', contentHash } });
  // the owner's own endpoint: only executions there fill the owner's memoized entries
  if (ep) await db.prisma.endpoint.create({ data: { id: ep, ownerId: owner, name: 'e' } });
  return { ...store, queued, published, tasks: new TasksRepository(db), deps, cache, service };
}

/** Makes the tasks of `owner`'s function `fn` on endpoint `ep`: with `inputs`, a dependent; `memo`, memoized in the owner's scope. */
export const taskMaker =
  ({ owner, fn, ep }: { owner: string; fn: string; ep: string }) =>
  (args: unknown[], inputs: string[] = [], memo = false): NewTask => ({
    id: randomUUID(),
    functionId: fn,
    endpointId: ep,
    args,
    kwargs: {},
    inputs,
    ...(memo ? { cache: { key: null, scope: `user:${owner}`, ttlSeconds: 600 } } : {}),
  });
