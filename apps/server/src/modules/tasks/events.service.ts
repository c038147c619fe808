import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { TaskOutcome } from '@fx/protocol';
import { BROKER } from '../../storage/storage.module.js';
import type { Broker } from '../../storage/broker.js';
import type { OutcomeRow } from './tasks.repository.js';

/**
 * Everything one replica tells the others, by name. Each event reaches every replica (through Redis
 * pub/sub, or in-process), and each replica acts on the sockets it holds.
 */
export interface ClusterEvents {
  /** Final outcomes, for clients waiting on them. */
  results: { results: Array<TaskOutcome & { ownerId: string }> };
  /** Tasks were queued for this endpoint: whoever holds its agent should dispatch. */
  wake: { endpointIds: string[] };
  /** Tasks held by this endpoint's agent were cancelled. */
  cancel: { endpointId: string; taskIds: string[] };
  /** The endpoint was deleted: drop its agent. */
  'endpoint-gone': { endpointId: string };
}
type Handler<K extends keyof ClusterEvents> = (payload: ClusterEvents[K]) => void;

const CHANNEL = 'events';

export function toOutcome(row: OutcomeRow): TaskOutcome & { ownerId: string } {
  return {
    taskId: row.id,
    ownerId: row.owner_id,
    status: row.status,
    ...(row.status === 'success' ? { result: row.result ?? null } : {}),
    ...(row.error ? { error: row.error } : {}),
    completedAt: new Date(row.completed_at).toISOString(),
  };
}

@Injectable()
export class EventsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Events');
  private readonly handlers = new Map<keyof ClusterEvents, Set<Handler<never>>>();
  private unsubscribe?: () => Promise<void>;

  constructor(@Inject(BROKER) private readonly broker: Broker) {}

  async onModuleInit(): Promise<void> {
    this.unsubscribe = await this.broker.subscribe(CHANNEL, (raw) => this.dispatch(raw));
  }

  async onModuleDestroy(): Promise<void> {
    await this.unsubscribe?.().catch(() => undefined);
  }

  on<K extends keyof ClusterEvents>(type: K, handler: Handler<K>): void {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    set.add(handler as Handler<never>);
  }

  async publish<K extends keyof ClusterEvents>(type: K, payload: ClusterEvents[K]): Promise<void> {
    await this.broker.publish(CHANNEL, JSON.stringify({ type, payload }));
  }

  async publishOutcomes(rows: OutcomeRow[]): Promise<void> {
    if (rows.length) await this.publish('results', { results: rows.map(toOutcome) });
  }

  async publishEndpointGone(endpointId: string): Promise<void> {
    await this.publish('endpoint-gone', { endpointId });
  }

  private dispatch(raw: string): void {
    let msg: { type: keyof ClusterEvents; payload: never };
    try {
      msg = JSON.parse(raw);
    } catch {
      this.logger.warn('dropped an event that is not JSON');
      return;
    }
    for (const h of this.handlers.get(msg.type) ?? []) {
      try {
        h(msg.payload);
      } catch (e) {
        this.logger.error(`handler for ${msg.type} failed: ${(e as Error).stack}`);
      }
    }
  }
}
