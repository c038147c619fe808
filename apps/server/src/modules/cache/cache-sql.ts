/**
 * The insert of a submission with memoized tasks (tasks.repository.ts uses it; a submission without any
 * takes the plain insert, unchanged). A memoized task is stored as a success at once when a live entry
 * holds its key, with the entry's result and `cached_from`, and otherwise as `received`, waiting for the
 * one execution of its key (CacheService starts it after the commit). The lookup is this join: one
 * statement for the whole submission, however many tasks hit. Each task probes the entries' primary key
 * for its own key (the lateral subquery, kept apart by OFFSET 0): the planner, taking the batch for a
 * handful of rows, could otherwise hash every live entry of the table to join a few.
 */
/**
 * The live entry of the key `key` (an expression of the outer row), as a lateral probe of the entries'
 * primary key aliased `e` (OFFSET 0 keeps it apart): every statement that looks entries up by their
 * tasks' keys goes through it, so none of them hashes the whole table of entries to join a few.
 */
export const liveEntry = (key: string) => `LATERAL (SELECT * FROM task_cache e WHERE e.key = ${key} AND e.state = 'ready' AND e.expires_at > now() OFFSET 0) e`;

export const MEMO_COLUMNS = ['cache_key text', 'cache_scope text', 'cache_ttl_seconds int'];

/** `dependents`, where the submission is a graph: whether a row is an input of another (the has_dependents column). */
export function memoizedInsert(status: string, waiting: string, dependents?: string): string {
  return `INSERT INTO tasks (id, owner_id, function_id, endpoint_id, endpoint_group_id, batch_id, status, args, kwargs, resources, serializer, pickled_args, priority, retry,
                     received_at, waiting_at, cache_key, cache_scope, cache_ttl_seconds, cached_from, result, output, completed_at, output_name${dependents ? ', has_dependents' : ''})
       SELECT x.id, $2::uuid, x.function_id, x.endpoint_id, x.endpoint_group_id, $3::uuid,
              CASE WHEN x.cache_key IS NULL THEN ${status} WHEN e.key IS NULL THEN 'received' ELSE 'success' END,
              x.args, x.kwargs, x.resources, x.serializer, x.pickled_args, x.priority, x.retry, now(), CASE WHEN x.cache_key IS NULL THEN ${waiting} END,
              x.cache_key, x.cache_scope, x.cache_ttl_seconds, e.task_id, e.result, e.output, CASE WHEN e.key IS NOT NULL THEN now() END, x.output_name${dependents ? `, ${dependents}` : ''}
       FROM x LEFT JOIN ${liveEntry('x.cache_key')} ON TRUE`;
}

/**
 * The statement that gives up the pending entries held by memoized tasks just moved (`moved`: rows
 * with id, owner_id, endpoint_id, cache_key) onto another user's endpoint (a steal, a reroute): a run
 * there fills nothing (cache.repository.ts fills), and their owners' identical tasks would wait on that
 * member's agent for as long as it held them; the cache's repair sweep starts one of those instead.
 */
export const dropForeignHolds = (moved: string) => `DELETE FROM task_cache e USING ${moved} m JOIN endpoints en ON en.id = m.endpoint_id
  WHERE m.cache_key IS NOT NULL AND en.owner_id <> m.owner_id AND e.key = m.cache_key AND e.task_id = m.id AND e.state = 'pending'`;
