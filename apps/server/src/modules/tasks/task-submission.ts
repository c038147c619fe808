import type { CachedOutcome } from '@fx/protocol';
import { toOutcome } from '../events/events.service.js';
import type { HitRow, NewTask } from './tasks.repository.js';
import type { CachedSourceViewer } from './cached-source.js';

/** What a caller of submit may add (SocketSubmitService): its own check, and a look at the ids once committed. */
export interface SubmitHooks {
  /** Run alongside the submission's reads and passed before the insert (a token's revocation check). */
  gate?: Promise<unknown>;
  /**
   * Called once the insert committed, before anything is queued. `mayEndFirst`: some of them may have
   * gone in completed (memoized) or may end before submit returns (dependents whose inputs ended).
   */
  accepted?: (ids: string[], mayEndFirst: boolean) => void;
}

/** The (endpoint, function) pairs of a submission's tasks sent to an endpoint, each once. */
export function submissionPairs(items: Array<Omit<NewTask, 'id'>>): Array<{ endpointId: string; functionId: string }> {
  const pairs = new Map(
    items.filter((t) => !t.endpointGroupId).map((t) => [`${t.endpointId}/${t.functionId}`, { endpointId: t.endpointId, functionId: t.functionId }]),
  );
  return [...pairs.values()];
}

/** A settled check's value, once every rejection has been thrown. */
export function fulfilled<T>(c: PromiseSettledResult<T>): T {
  return (c as PromiseFulfilledResult<T>).value;
}

/**
 * The outcomes of a submission's cache hits, for its answer: rows its insert just stored for the caller
 * (the entry's result is what each row holds), so the answer shows nothing the caller could not read:
 * nor the id of a source task that is not theirs (cached-source.ts).
 */
export function inlineOutcomes(hits: HitRow[], caller: CachedSourceViewer): CachedOutcome[] {
  return hits.map((h) => {
    const { ownerId: _owner, ...outcome } = toOutcome(h, caller);
    return h.serializer === 'pickle' ? { ...outcome, serializer: 'pickle' } : outcome;
  });
}
