import { MEMO_COLUMNS, memoizedInsert } from '../cache/cache-sql.js';
import { auditInsert } from '../audit/audit.repository.js';
import { SHARED_COLUMNS } from './task-records.js';
import { cachedFromOwner } from './cached-source.js';

/** SQL fragments shared by the statements over the tasks table (tasks.repository.ts, leases.repository.ts). */

export const FINAL = `('success', 'failed', 'cancelled')`;
/** The states of a leased task. */
export const HELD = `('dispatched', 'running')`;
/** Ids travel as one jsonb array parameter: one shape that both PostgreSQL and PGlite bind the same way. */
export const idsIn = (param: string) => `(SELECT value::uuid FROM jsonb_array_elements_text(${param}::jsonb))`;
export const json = (v: unknown) => JSON.stringify(v);

/**
 * When an attempt started, from the agent's `startedAt` (epoch ms, `ms`), kept between its dispatch
 * (`dispatchedAt`) and now: the agent's clock is another user's word where an endpoint group placed the
 * task, and the start drives the median runtime that picks stragglers and the usage charged to the task's
 * owner for a lost attempt (a start in 2199 made every running task of a group a straggler; one in 2000
 * charged 26 years).
 */
export const agentStart = (ms: string, dispatchedAt: string) =>
  // no start said (an older agent, a retry frame without one) stays no start: GREATEST skips a NULL
  `CASE WHEN ${ms} IS NULL THEN NULL ELSE LEAST(now(), GREATEST(${dispatchedAt}, to_timestamp(${ms} / 1000.0))) END`;

/**
 * The tasks a frame of rows names (`frame`'s column `key`), each found through the primary key alone,
 * in id order, locked unless `lock: false`; `where` then keeps those the statement may touch, and
 * `columns` is what it returns (the lateral row is aliased `t`). Left to choose, the planner may scan every
 * open task of the endpoint and compare each with every row of the frame: without statistics yet (a new
 * database, a table that just grew by a batch) `endpoint_id = $2` looks like a handful of rows, and even
 * inside a per-row probe it preferred that index to the primary key. That plan took 5 s per 300-row frame
 * with 20,000 open tasks (the first big batch on a fresh database ran at 450 tasks/s). Here the probe can
 * only use the primary key: OFFSET 0 keeps the subquery from being flattened into a join the planner
 * could reorder, and keeps `where` from being pushed into it. A row another statement may not touch is
 * locked for the statement's short transaction and then left alone, in id order, so no deadlock.
 */
export function tasksOfFrame(frame: string, key: string, where: string, o: { columns?: string; lock?: boolean; within?: string } = {}): string {
  // `within`: rows that fail it are not even locked (the lock re-checks it on the row's latest version).
  // It is wrapped in a CASE, which the planner cannot see into: written plainly, a `within` that implies
  // a partial index's predicate (open tasks) let the planner scan that index with `id = pk` as a mere
  // filter, for every row of the frame, when its statistics said the index was nearly empty (22.7 s for
  // 5,000 inputs against 9,246 open tasks, on a table analyzed before a batch).
  const within = o.within ? ` AND CASE WHEN ${o.within} THEN true ELSE false END` : '';
  return `SELECT ${o.columns ?? 't.id'} FROM (SELECT DISTINCT ${key} AS pk FROM ${frame} ORDER BY 1) f
    CROSS JOIN LATERAL (SELECT * FROM tasks WHERE tasks.id = f.pk${within} OFFSET 0${o.lock === false ? '' : ' FOR UPDATE'}) t WHERE ${where}`;
}
/**
 * Whether task `t`, waiting for its endpoint again after losing its lease, lost it on endpoint
 * `endpoint`: its latest attempt, archived `lost` (leases.repository.ts requeueHeld), ran there. Only
 * that endpoint's agent ran it, so only its result or usage for it is genuine. An endpoint group may
 * have moved the waiting task to another member since, whose agent never had it; and a member that
 * left the group (its tasks taken back) has no say on them any more, even while one still waits on
 * its queue for the reroute (a task requeued once its copy ended, say).
 */
// A scalar subquery, probed through the attempts' primary key for the rows that get this far: written as
// EXISTS, the planner hashed every lost attempt of the endpoint (a scan of task_attempts) for a frame.
export const lostOn = (t: string, endpoint: string) =>
  `((SELECT a.endpoint_id FROM task_attempts a WHERE a.task_id = ${t}.id AND a.number = ${t}.attempt AND NOT a.speculative AND a.status = 'lost') = ${endpoint}::uuid
    AND ${stillMember(t, `${endpoint}::uuid`)})`;
/** What a statement that moves tasks to `waiting-for-endpoint` returns for QueueService (QueuedRow), with the table's alias. */
export const queuedColumns = (t = '') => ['id', 'endpoint_id', 'owner_id', 'priority'].map((c) => t + c).join(', ');

/** A submission's task columns as its rows carry them (task-records.ts insertRow), with their types. */
const TASK_COLUMNS = [
  'id uuid',
  'function_id uuid',
  'endpoint_id uuid',
  'endpoint_group_id uuid',
  'args jsonb',
  'kwargs jsonb',
  'resources jsonb',
  'serializer text',
  'pickled_args jsonb',
  'inputs jsonb',
  'priority smallint',
  'retry jsonb',
  'objects jsonb',
  'output_name text',
];
const LEASE_COLUMNS = ['lease_owner text', 'lease_ms int'];

/**
 * The rows of a submission ($1) as a relation of `columns` (`name type`), a column the submission's tasks
 * all share (task-records.ts sharedRow) read from its shared row ($4) where the task's row leaves it out.
 */
function submissionRecords(columns: string[]): string {
  const names = columns.map((c) => c.split(' ')[0]!);
  const select = names.map((n) => (SHARED_COLUMNS.has(n) ? `COALESCE(r.${n}, d.${n}) AS ${n}` : `r.${n}`)).join(', ');
  const shared = columns.filter((_, i) => SHARED_COLUMNS.has(names[i]!));
  return `SELECT ${select} FROM jsonb_to_recordset($1::jsonb) AS r(${columns.join(', ')}) CROSS JOIN jsonb_to_record($4::jsonb) AS d(${shared.join(', ')})`;
}

/**
 * The one statement that stores a submission ($1 its rows as a jsonb array, $2 the owner, $3 the batch,
 * $4 the columns all its rows share, as one object: task-records.ts sharedRow):
 * the tasks, and in the same statement the edges of a graph (`graph`) and the objects its tasks refer
 * to (`refers`), so that no task is stored without them; memoized tasks (`memo`) join the cache entries,
 * and the statement then returns those that missed, and the hits' outcomes up to `inlineBytes`. With
 * `audit`, its audit entry ($5) too: no more round trip before the reply than the insert's. With
 * `leased`, the rows that name a lease owner go in leased to it (DirectLeaseService), never queued.
 */
/** What an outcome in a submission's answer costs besides its result and output (its id, cachedFrom, completedAt...). */
const INLINE_OUTCOME_BYTES = 160;

export function submissionInsert(o: { graph: boolean; refers: boolean; memo: boolean; leased?: boolean; audit?: boolean; inlineBytes?: number }): string {
  if (o.memo && o.leased) throw new Error('a memoized submission is never leased in its insert');
  const queued = o.graph ? `CASE WHEN x.inputs IS NULL THEN 'waiting-for-endpoint' ELSE 'waiting-for-dependencies' END` : `'waiting-for-endpoint'`;
  // `leased` (never with `memo`): the rows with a lease owner go in dispatched, leased as LeasesRepository.grant leases
  const status = o.leased ? `CASE WHEN x.lease_owner IS NULL THEN ${queued} ELSE 'dispatched' END` : queued;
  const lease = o.leased
    ? {
        columns: ', dispatched_at, lease_owner, lease_expires_at',
        values: `, CASE WHEN x.lease_owner IS NOT NULL THEN now() END, x.lease_owner, now() + x.lease_ms * interval '1 millisecond'`,
      }
    : { columns: '', values: '' };
  const waiting = o.graph ? `CASE WHEN x.inputs IS NULL THEN now() END` : 'now()';
  // an input inside the submission is inserted with has_dependents set; one outside gets it from `flagged`
  const dependents = o.graph ? `x.id IN (SELECT input_id FROM edge_rows)` : undefined;
  const insert = o.memo
    ? memoizedInsert(status, waiting, dependents)
    : `INSERT INTO tasks (id, owner_id, function_id, endpoint_id, endpoint_group_id, batch_id, status, args, kwargs, resources, serializer, pickled_args, priority, retry, received_at, waiting_at, output_name${dependents ? ', has_dependents' : ''}${lease.columns})
       SELECT x.id, $2::uuid, x.function_id, x.endpoint_id, x.endpoint_group_id, $3::uuid, ${status},
              x.args, x.kwargs, x.resources, x.serializer, x.pickled_args, x.priority, x.retry, now(), ${waiting}, x.output_name${dependents ? `, ${dependents}` : ''}${lease.values}
       FROM x`;
  const x = `x AS (${submissionRecords([...TASK_COLUMNS, ...(o.memo ? MEMO_COLUMNS : []), ...(o.leased ? LEASE_COLUMNS : [])])})`;
  const edges = `INSERT INTO task_dependencies (task_id, input_id) SELECT task_id, input_id FROM edge_rows`;
  const objectRefs = `INSERT INTO task_objects (task_id, object_id)
           SELECT DISTINCT x.id, o.value::uuid FROM x CROSS JOIN LATERAL jsonb_array_elements_text(x.objects) AS o WHERE x.objects IS NOT NULL
           ON CONFLICT DO NOTHING`;
  // Inputs outside the submission that are still open get has_dependents in the edges' statement, locked
  // in id order like every statement over several tasks; one already set or final is not even locked. Why
  // this is enough for the results' statement to skip the dependents' lookup: mayHaveDependents.
  const graph = `${x}, edge_rows AS (SELECT x.id AS task_id, i.value::uuid AS input_id FROM x CROSS JOIN LATERAL jsonb_array_elements_text(x.inputs) AS i WHERE x.inputs IS NOT NULL),
       open_inputs AS MATERIALIZED (${tasksOfFrame('edge_rows', 'input_id', 'TRUE', { within: `NOT has_dependents AND status NOT IN ${FINAL}` })}),
       flagged AS (UPDATE tasks u SET has_dependents = true FROM open_inputs WHERE u.id = open_inputs.id)`;
  const start = o.graph ? graph : x;
  const steps = o.audit ? `${start}, audited AS (${auditInsert('$5')})` : start;
  // A memoized submission returns the tasks that missed (only those have work after the commit), and the
  // outcomes of the hits for the answer (cachedResults) up to its budget, counted in id order; the hits
  // past it are not returned: they are delivered as before, by a subscription.
  if (o.memo)
    return `WITH ${steps}, inserted AS (${insert} RETURNING id, status, result, output, completed_at, cached_from, serializer)${o.refers ? `, refs AS (${objectRefs})` : ''}${o.graph ? `, edges AS (${edges})` : ''}
       SELECT id, $2::uuid AS owner_id, status, result, output, completed_at, cached_from, ${cachedFromOwner('s')}, serializer FROM (
         SELECT *, sum(CASE WHEN status = 'success' THEN ${INLINE_OUTCOME_BYTES} + octet_length(COALESCE(result::text, '')) + octet_length(COALESCE(output::text, '')) END)
                     OVER (ORDER BY id ROWS UNBOUNDED PRECEDING) AS upto
         FROM inserted WHERE status IN ('received', 'success')) s
       WHERE status = 'received' OR upto <= ${o.inlineBytes ?? 0}`;
  if (o.graph && o.refers) return `WITH ${steps}, inserted AS (${insert}), refs AS (${objectRefs}) ${edges}`;
  if (o.graph) return `WITH ${steps}, inserted AS (${insert}) ${edges}`;
  if (o.refers) return `WITH ${steps}, inserted AS (${insert}) ${objectRefs}`;
  return `WITH ${steps} ${insert}`;
}

/**
 * The `objects` column of a granted task (`t`: the tasks row): the references the server checked for
 * it (task_objects, completed from the objects' rows), which are all its agent may resolve (TaskSpec.objects).
 */
export const checkedObjects = (t: string) =>
  `(SELECT jsonb_agg(jsonb_build_object('$fx', 'object', 'id', o.id, 'sha256', o.sha256, 'size', o.size, 'encoding', o.encoding) ORDER BY o.id)
    FROM task_objects r JOIN objects o ON o.id = r.object_id WHERE r.task_id = ${t}.id) AS objects`;

/**
 * True for a task (`t`: the tasks row) that may run on `endpoint`: any task not sent to an endpoint
 * group, a group's task on an active member of its group (its owner's consent holds), and a task of a
 * deleted group, which stays with the member chosen for it (deleting a group removes its members).
 */
export const stillMember = (t: string, endpoint: string) =>
  `(${t}.endpoint_group_id IS NULL
    OR EXISTS (SELECT 1 FROM endpoint_group_members m WHERE m.group_id = ${t}.endpoint_group_id AND m.endpoint_id = ${endpoint} AND m.state = 'active')
    OR EXISTS (SELECT 1 FROM endpoint_groups g WHERE g.id = ${t}.endpoint_group_id AND g.deleted_at IS NOT NULL))`;

/** Whether endpoint `e`'s agent said `ownerOnly` in its hello (AgentSessionService stores it with the agent's info). */
export const agentOwnerOnly = (e: string) => `COALESCE(${e}.agent->>'ownerOnly' = 'true', false)`;

/**
 * True when endpoint `e`'s agent (`e`: the endpoints row) may run task `t` as far as isolation goes:
 * its owner's task, or another user's while the agent said neither as it connected (`agent.ownerOnly`)
 * nor in its last heartbeat (`status.ownerOnly`) that it runs only its owner's (no bubblewrap).
 */
export const isolatesFor = (t: string, e: string) =>
  `(${t}.owner_id = ${e}.owner_id OR NOT (${agentOwnerOnly(e)} OR COALESCE(${e}.status->>'ownerOnly' = 'true', false)))`;
