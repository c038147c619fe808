import { Injectable } from '@nestjs/common';

/** Most (endpoint, owner, content) entries remembered; the oldest are forgotten first. */
const MAX_PAIRS = 100_000;

/**
 * Which endpoints fetched which object contents (by sha256) for which owner's tasks, as this replica
 * served them: what endpoint group routing prefers a member for (an agent caches what it fetched). Per
 * owner, as the agent's cache is: content one user's task fetched is no nearer for another's, and a
 * shared hint would tell the other user, by where their task is sent, what the first one used. In memory
 * and bounded: a hint, not a record, so a restart or another replica's downloads only cost a transfer.
 */
@Injectable()
export class ObjectLocality {
  /** Insertion-ordered: re-noting a pair moves it to the end, so eviction drops the least recent. */
  private readonly pairs = new Set<string>();

  noteFetched(endpointId: string, ownerId: string, sha256: string): void {
    const key = `${endpointId}/${ownerId}/${sha256}`;
    this.pairs.delete(key);
    this.pairs.add(key);
    if (this.pairs.size > MAX_PAIRS) this.pairs.delete(this.pairs.values().next().value!);
  }

  holds(endpointId: string, ownerId: string, sha256: string): boolean {
    return this.pairs.has(`${endpointId}/${ownerId}/${sha256}`);
  }
}
