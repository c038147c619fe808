/** SQL fragments shared by the statements over the task_copies table (copies.repository.ts, copy-placements.repository.ts). */

/** The states of a copy that has not ended. */
export const COPY_ACTIVE = `('queued', 'dispatched', 'running')`;
/** The states of a copy sent to an agent (a lease on a connection) that has not ended. */
export const COPY_SENT = `('dispatched', 'running')`;
/** How many times a task's copy may be placed in all (a refused one is placed again, up to this). */
export const MAX_COPY_PLACEMENTS = 2;
/**
 * The codes of a copy refused before it ran: at its grant (ISOLATION_REQUIRED, CopiesRepository.grant),
 * or by its agent's intake, as a failed result of a copy that never started (TaskAdmission: the
 * endpoint's allow-list, the function's content hash, an agent that runs only its owner's tasks). Each
 * says something of the member, not of the task: another member may run it. The list is the one of the
 * partial index task_copies_refused_idx (migration 20261227000000_copy_refusals), in the same order.
 */
export const REFUSAL_CODES = `('ISOLATION_REQUIRED', 'FUNCTION_NOT_ALLOWED', 'CONTENT_HASH_MISMATCH')`;
/** A copy of `c` refused before it ran that may be placed again (the partial index task_copies_refused_idx holds these). */
export const REFUSED = (c: string) => `${c}.status = 'cancelled' AND (${c}.error->>'code') IN ${REFUSAL_CODES} AND ${c}.placement < ${MAX_COPY_PLACEMENTS - 1}`;
/** The error of a copy that ended `lost` (its agent no longer runs it); `message` is SQL text, quotes doubled. */
export const leaseLost = (message: string) => `jsonb_build_object('code', 'LEASE_LOST', 'name', 'LeaseLost', 'message', '${message}')`;

/** Archives the copies of CTE `ended` as speculative attempts (sharing the number of the attempt they ran alongside). */
export function archive(ended: string): string {
  return `, archived AS (
    INSERT INTO task_attempts (task_id, number, speculative, placement, status, endpoint_id, connection_id, worker_id, queued_at, dispatched_at, started_at, ended_at, error)
    SELECT task_id, attempt + 1, true, placement, status, endpoint_id, connection_id, worker_id, launched_at, dispatched_at, started_at, ended_at, error FROM ${ended}
    ON CONFLICT DO NOTHING)`;
}
