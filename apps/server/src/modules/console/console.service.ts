import { Injectable } from '@nestjs/common';
import type { ConsoleEndpoint, OverviewResponse } from '@fx/protocol';
import type { Principal } from '../auth/principal.js';
import { EndpointsService } from '../endpoints/endpoints.service.js';
import { ConsoleRepository } from './console.repository.js';

const MINUTE = 60_000;

/**
 * The console's own reads. Same rules as the rest of the API: users see their own things, admins
 * everything.
 */
@Injectable()
export class ConsoleService {
  constructor(
    private readonly repo: ConsoleRepository,
    private readonly endpoints: EndpointsService,
  ) {}

  listEndpoints(p: Principal): Promise<ConsoleEndpoint[]> {
    return this.endpoints.views(p.admin ? {} : { ownerId: p.userId });
  }

  async overview(p: Principal, now = new Date()): Promise<OverviewResponse> {
    const ownerId = p.admin ? null : p.userId;
    const currentMinute = Math.floor(now.getTime() / MINUTE);
    const first = currentMinute - 59;
    const [endpoints, queue, buckets] = await Promise.all([
      this.endpoints.views(ownerId ? { ownerId } : {}),
      this.repo.queueCounts(ownerId),
      this.repo.throughput(new Date(first * MINUTE), ownerId),
    ]);
    const byMinute = new Map(buckets.map((b) => [Number(b.minute), b]));
    return {
      endpoints: {
        online: endpoints.filter((e) => e.state === 'online').length,
        offline: endpoints.filter((e) => e.state === 'offline').length,
        locked: endpoints.filter((e) => e.lockedAt).length,
      },
      queue,
      throughput: Array.from({ length: 60 }, (_, i) => {
        const b = byMinute.get(first + i);
        return { minute: new Date((first + i) * MINUTE).toISOString(), completed: Number(b?.completed ?? 0), failed: Number(b?.failed ?? 0) };
      }),
      generatedAt: now.toISOString(),
    };
  }
}
