import { Injectable } from '@nestjs/common';

type RequeuedHandler = (endpointIds: string[]) => Promise<unknown>;

/**
 * In-process news of tasks the lease model put back on endpoints that may no longer be members of their
 * endpoint group (a task given up beside a speculative copy on a member that then left): endpoint group
 * routing moves them on at once. The lease model does not depend on routing (routing depends on it),
 * so both depend on this neutral point instead of a callback one registers on the other. Only a
 * shortcut: routing's sweep moves whatever a failure here left.
 */
@Injectable()
export class RequeueHooks {
  private readonly handlers: RequeuedHandler[] = [];

  onRequeued(handler: RequeuedHandler): void {
    this.handlers.push(handler);
  }

  /** Tasks were requeued on these endpoints; resolves once every handler has moved what it moves. */
  async requeued(endpointIds: string[]): Promise<void> {
    if (endpointIds.length === 0) return;
    await Promise.all(this.handlers.map((h) => h(endpointIds)));
  }
}
