/** SQL fragments shared by the statements over the tasks table (tasks.repository.ts, leases.repository.ts). */

export const FINAL = `('success', 'failed', 'cancelled')`;
/** The states of a leased task. */
export const HELD = `('dispatched', 'running')`;
/** Ids travel as one jsonb array parameter: one shape that both PostgreSQL and PGlite bind the same way. */
export const idsIn = (param: string) => `(SELECT value::uuid FROM jsonb_array_elements_text(${param}::jsonb))`;
export const json = (v: unknown) => JSON.stringify(v);
/** What a statement that moves tasks to `waiting-for-endpoint` returns for QueueService (QueuedRow), with the table's alias. */
export const queuedColumns = (t = '') => ['id', 'endpoint_id', 'owner_id', 'priority'].map((c) => t + c).join(', ');
