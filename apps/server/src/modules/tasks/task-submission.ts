import type { NewTask } from './tasks.repository.js';

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
