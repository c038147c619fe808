import { Inject, Injectable, Logger } from '@nestjs/common';
import { BROKER } from '../../storage/storage.module.js';
import type { Broker } from '../../storage/broker.js';
import { EventsService } from '../events/events.service.js';

/**
 * Puts task ids on their endpoints' queues and wakes the replica that holds each agent. A broker
 * failure here loses nothing: the rows are committed as waiting, and the next rebuild re-enqueues them.
 */
@Injectable()
export class QueueService {
  private readonly logger = new Logger('Queue');
  /** Set when an enqueue failed; the recovery sweep then rebuilds the queues from PostgreSQL. */
  private dirty = false;

  constructor(
    @Inject(BROKER) private readonly broker: Broker,
    private readonly events: EventsService,
  ) {}

  async enqueue(tasks: Array<{ id: string; endpoint_id: string }>): Promise<void> {
    const byEndpoint = new Map<string, string[]>();
    for (const t of tasks) {
      let ids = byEndpoint.get(t.endpoint_id);
      if (!ids) byEndpoint.set(t.endpoint_id, (ids = []));
      ids.push(t.id);
    }
    if (byEndpoint.size === 0) return;
    for (const [ep, ids] of byEndpoint) this.events.noteTaskStates('waiting-for-endpoint', ep, ids);
    try {
      await Promise.all([...byEndpoint].map(([ep, ids]) => this.broker.enqueue(ep, ids)));
      await this.events.publish('wake', { endpointIds: [...byEndpoint.keys()] });
    } catch (e) {
      this.dirty = true;
      this.logger.error(`broker enqueue failed; the tasks stay waiting in PostgreSQL until the queues are rebuilt: ${(e as Error).message}`);
    }
  }

  takeDirty(): boolean {
    const d = this.dirty;
    this.dirty = false;
    return d;
  }
}
