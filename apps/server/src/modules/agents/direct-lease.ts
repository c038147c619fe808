import type { NewTask } from '../tasks/tasks.repository.js';

/** What the decision reads of an agent connection (EndpointConnection). */
export interface LeaseTarget {
  readonly open: boolean;
  dispatching: boolean;
  credits: number;
  queueSeq: number;
  emptyAt: number;
}

/** The tasks of a submission (their indexes) to lease in its insert to one connection. */
export interface DirectGrant<C extends LeaseTarget> {
  conn: C;
  indexes: number[];
}

/**
 * Which tasks of a submission are leased in its own insert (DirectLeaseService): those it would queue at
 * once on an endpoint whose agent is connected to this replica, has credits for all of them, and has an
 * empty queue (its last claim found nothing and nothing was queued since: EndpointConnection.queueSeq),
 * and no claim of its dispatcher under way (one sized by credits the insert would take as well).
 * Nothing queued means nobody is overtaken, so priority and fairness hold as if the pump had claimed
 * them. Not leased: a memoized submission (its tasks go in completed, or wait for their key's one
 * execution: another statement), dependents (they wait for their inputs), tasks sent to an endpoint
 * group (the member chosen may leave the group before the insert commits: only the lease grant checks
 * membership as it leases), and an endpoint's tasks that are more than its credits or than one `tasks`
 * frame holds: those are all queued, as before, so a submission never jumps ahead of part of itself.
 */
export function directGrants<C extends LeaseTarget>(
  rows: ReadonlyArray<Pick<NewTask, 'endpointId' | 'inputs' | 'cache' | 'endpointGroupId'>>,
  connectionOf: (endpointId: string) => C | undefined,
  maxPerFrame: number,
): Array<DirectGrant<C>> {
  if (rows.some((r) => r.cache)) return [];
  const byEndpoint = new Map<string, number[]>();
  // an endpoint with a grouped task in the submission gets all of them queued, not a part leased ahead
  const grouped = new Set(rows.filter((r) => r.endpointGroupId).map((r) => r.endpointId));
  rows.forEach((r, i) => {
    if (r.inputs?.length || grouped.has(r.endpointId)) return;
    const indexes = byEndpoint.get(r.endpointId);
    if (indexes) indexes.push(i);
    else byEndpoint.set(r.endpointId, [i]);
  });
  const grants: Array<DirectGrant<C>> = [];
  for (const [endpointId, indexes] of byEndpoint) {
    const conn = connectionOf(endpointId);
    if (!conn?.open || conn.dispatching || conn.emptyAt !== conn.queueSeq || indexes.length > Math.min(conn.credits, maxPerFrame)) continue;
    grants.push({ conn, indexes });
  }
  return grants;
}
