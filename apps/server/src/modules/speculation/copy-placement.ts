import { Injectable } from '@nestjs/common';
import type { TaskResources } from '@fx/protocol';
import { EndpointRoutingService } from '../endpoint-groups/endpoint-routing.service.js';
import type { Straggler } from './copies.repository.js';

/**
 * Where a straggler's copy runs: on another online member of the task's endpoint group when it was sent
 * to one (the member the routing rule would pick, its own endpoint excluded, so a slow machine is not
 * asked twice); otherwise on the task's own endpoint, where the agent runs it on another worker than the
 * original (a worker runs one task at a time, and the original holds its worker).
 */
@Injectable()
export class CopyPlacement {
  constructor(private readonly routing: EndpointRoutingService) {}

  async endpointFor(task: Straggler): Promise<string> {
    return (await this.otherMember(task, [])) ?? task.endpoint_id;
  }

  /**
   * For a copy refused before it ran (RefusedCopy): another member than the original's and those that
   * refused it, or null (then the copy is not placed again: on the task's own endpoint it would be a
   * copy the original's agent runs beside it, which the first placement did not choose).
   */
  otherMember(task: Straggler, refusedBy: string[]): Promise<string | null> {
    if (!task.endpoint_group_id) return Promise.resolve(null);
    return this.routing.pickMember(task.endpoint_group_id, [task.endpoint_id, ...refusedBy], {
      ownerId: task.owner_id,
      pickled: task.serializer === 'pickle',
      functionId: task.function_id,
      resources: task.resources as TaskResources | null,
    });
  }
}
