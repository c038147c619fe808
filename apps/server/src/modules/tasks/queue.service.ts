import { Inject, Injectable, Logger } from '@nestjs/common';
import { BROKER } from '../../storage/storage.module.js';
import type { Broker } from '../../storage/broker.js';
import { EventsService } from '../events/events.service.js';
import { DEFAULT_TASK_PRIORITY } from '@fx/protocol';
import type { QueueEntry } from '../../storage/queue-order.js';
import type { QueuedRow } from './tasks.repository.js';

/**
 * Puts task ids on their endpoints' queues and wakes the replica that holds each agent. A broker
 * failure here loses nothing: the rows are committed as waiting, and the next rebuild re-enqueues them.
 */
@Injectable()
export class QueueService {
  private readonly logger = new Logger('Queue');
  /** Set when an enqueue failed; the recovery sweep then rebuilds the queues from PostgreSQL. */
  private dirty = false;
  /** Told synchronously which endpoints get tasks, as an enqueue starts and once the broker took them. */
  private readonly watchers: Array<(endpointIds: string[]) => void> = [];

  constructor(
    @Inject(BROKER) private readonly broker: Broker,
    private readonly events: EventsService,
  ) {}

  /** Each task goes by its priority and, within it, fairly between owners (storage/queue-order.ts). */
  async enqueue(tasks: QueuedRow[]): Promise<void> {
    const byEndpoint = new Map<string, QueueEntry[]>();
    for (const t of tasks) {
      let entries = byEndpoint.get(t.endpoint_id);
      if (!entries) byEndpoint.set(t.endpoint_id, (entries = []));
      // a statement that forgot queuedColumns() must not queue its tasks as "undefined"
      entries.push({ id: t.id, priority: t.priority ?? DEFAULT_TASK_PRIORITY, owner: t.owner_id ?? '' });
    }
    if (byEndpoint.size === 0) return;
    for (const [ep, entries] of byEndpoint)
      this.events.noteTaskStates(
        'waiting-for-endpoint',
        ep,
        entries.map((e) => ({ id: e.id, owner_id: e.owner })),
      );
    const endpointIds = [...byEndpoint.keys()];
    this.notify(endpointIds);
    try {
      // told again once each queue has its tasks (or may have some of them: a failed enqueue)
      await Promise.all([...byEndpoint].map(([ep, entries]) => this.broker.enqueue(ep, entries).finally(() => this.notify([ep]))));
      await this.events.publish('wake', { endpointIds });
    } catch (e) {
      this.dirty = true;
      this.logger.error(`broker enqueue failed; the tasks stay waiting in PostgreSQL until the queues are rebuilt: ${(e as Error).message}`);
    }
  }

  /**
   * Calls `watcher` with the endpoints of every enqueue of this replica, synchronously, when it starts
   * and again when the broker took each endpoint's tasks: a queue seen empty before either may not be
   * any more (EndpointConnection.queueSeq, which the lease in the insert trusts).
   */
  onQueued(watcher: (endpointIds: string[]) => void): void {
    this.watchers.push(watcher);
  }

  private notify(endpointIds: string[]): void {
    for (const w of this.watchers) w(endpointIds);
  }

  takeDirty(): boolean {
    const d = this.dirty;
    this.dirty = false;
    return d;
  }
}
