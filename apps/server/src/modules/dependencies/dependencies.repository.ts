import { Injectable } from '@nestjs/common';
import type { RemoteError, TaskStatus } from '@fx/protocol';
import { SqlRepository } from '../../storage/sql.repository.js';
import type { RawRow } from '../../storage/raw-rows.js';
import type { Task } from '../../generated/prisma/client.js';
import type { OutcomeRow, QueuedRow, TaskJson } from '../tasks/tasks.repository.js';
import { idsIn, json, queuedColumns, tasksOfFrame } from '../tasks/task-sql.js';
import { liveEntry } from '../cache/cache-sql.js';
import { cachedFromOwner } from '../tasks/cached-source.js';

/**
 * A dependent whose inputs have all ended well (or are gone), with what it needs to be made ready; a
 * memoized one (cache_scope set at submit) with its function's content hash, for its key.
 */
export type ReadyCandidate = RawRow<Task, 'id' | 'args' | 'kwargs' | 'cache_scope', Pick<TaskJson, 'args' | 'kwargs'>> & {
  inputs: Array<{ id: string; status: TaskStatus | null }>;
  content_hash: string | null;
};

/** A memoized dependent made ready: completed from its key's entry (`cached_from`), or waiting for its key's one execution. */
export type MemoizedMove = OutcomeRow & { cached_from: string | null };

/** A dependent of an input that failed or was cancelled (one such input per dependent). */
export interface DoomedDependent {
  id: string;
  input_id: string;
  input_status: 'failed' | 'cancelled';
  input_error: RemoteError | null;
}

/** Where candidates are looked for: dependents of these inputs, these dependents, or anywhere (the sweep). */
export type CandidateScope = { inputIds: string[] } | { taskIds: string[] } | 'all';

const WAITING = `'waiting-for-dependencies'`;

/** Dependents that will run (`dependents`, a query of ids) refer to the objects their inputs' results are, so those are kept for them. */
const inputObjects = (dependents: string) => `INSERT INTO task_objects (task_id, object_id)
  SELECT DISTINCT d.task_id, (i.result_ref ->> 'id')::uuid FROM task_dependencies d JOIN tasks i ON i.id = d.input_id
  WHERE d.task_id IN (${dependents}) AND i.result_ref IS NOT NULL
  ON CONFLICT DO NOTHING`;

/**
 * The edges of dataflow graphs (`task_dependencies`) and the two moves of a dependent out of
 * `waiting-for-dependencies`: to `waiting-for-endpoint` with its inputs' results in its args, or to
 * failed/cancelled. Both UPDATEs are conditional on that state, so each happens once, whichever
 * replica (or how many at once) tries; the rows are locked in id order as elsewhere.
 */
@Injectable()
export class DependenciesRepository extends SqlRepository {
  /**
   * Dependents in scope none of whose existing inputs is unfinished or failed, with their inputs'
   * states (an input purged meanwhile reads as null). At most `limit`. Each candidate is found, and its
   * inputs checked, through primary keys and the inputs' index alone (OFFSET 0 and the aggregate keep
   * them per row): as a NOT EXISTS the planner turned the check into an anti-join over every edge and
   * every task, and the lookup after each results frame of a graph grew with the table (0.3-0.5 s with
   * 80,000 tasks).
   */
  readyCandidates(scope: CandidateScope, limit: number): Promise<ReadyCandidate[]> {
    const candidates =
      scope === 'all'
        ? `SELECT id AS pk FROM tasks WHERE status = ${WAITING}`
        : 'inputIds' in scope
          ? `SELECT DISTINCT d.task_id AS pk FROM ${idsIn('$2')} AS ii(id)
             CROSS JOIN LATERAL (SELECT task_id FROM task_dependencies WHERE input_id = ii.id OFFSET 0) d`
          : `SELECT DISTINCT id AS pk FROM ${idsIn('$2')} AS ii(id)`;
    const ids = scope === 'all' ? null : json('inputIds' in scope ? scope.inputIds : scope.taskIds);
    return this.query(
      `SELECT t.id, t.args, t.kwargs, t.cache_scope,
              CASE WHEN t.cache_scope IS NOT NULL THEN (SELECT f.content_hash FROM functions f WHERE f.id = t.function_id) END AS content_hash,
              deps.inputs
       FROM (${candidates}) c
       CROSS JOIN LATERAL (SELECT * FROM tasks WHERE tasks.id = c.pk OFFSET 0) t
       CROSS JOIN LATERAL (SELECT jsonb_agg(jsonb_build_object('id', d.input_id, 'status', i.status)) AS inputs,
                                  count(*) FILTER (WHERE i.status <> 'success') AS unfinished
                           FROM task_dependencies d LEFT JOIN tasks i ON i.id = d.input_id WHERE d.task_id = t.id) deps
       WHERE t.status = ${WAITING} AND deps.unfinished = 0
       LIMIT $1::int`,
      limit,
      ...(ids === null ? [] : [ids]),
    );
  }

  /**
   * The results of these inputs that succeeded. A result stored as an object is its ObjectRef: the
   * dependent receives the reference in place, and its agent fetches the content like any other.
   */
  /** The size of each successful input's result (its JSON's bytes, or its reference's when stored as an object), without the result. */
  resultSizes(ids: string[]): Promise<Array<RawRow<Task, 'id' | 'serializer'> & { bytes: number }>> {
    return this.query(
      `SELECT id, serializer, octet_length((CASE WHEN result_ref IS NOT NULL THEN result_ref ELSE result END)::text)::int AS bytes
       FROM tasks WHERE id IN ${idsIn('$1')} AND status = 'success'`,
      json(ids),
    );
  }

  results(ids: string[]): Promise<Array<RawRow<Task, 'id' | 'result' | 'serializer', Pick<TaskJson, 'result'>>>> {
    return this.query(
      `SELECT id, serializer, CASE WHEN result_ref IS NOT NULL THEN result_ref ELSE result END AS result FROM tasks WHERE id IN ${idsIn('$1')} AND status = 'success'`,
      json(ids),
    );
  }

  /** Dependents still waiting on these ids whose inputs include one that failed or was cancelled. */
  doomedDependents(inputIds: string[], limit: number): Promise<DoomedDependent[]> {
    return this.query(
      `SELECT DISTINCT ON (d.task_id) d.task_id AS id, i.id AS input_id, i.status AS input_status, i.error AS input_error
       FROM task_dependencies d JOIN tasks i ON i.id = d.input_id JOIN tasks t ON t.id = d.task_id
       WHERE d.input_id IN ${idsIn('$1')} AND i.status IN ('failed', 'cancelled') AND t.status = ${WAITING}
       ORDER BY d.task_id, i.id LIMIT $2::int`,
      json(inputIds),
      limit,
    );
  }

  /** Inputs that failed or were cancelled and still have dependents waiting (the sweep's repair). */
  async failedInputsWithWaitingDependents(limit: number): Promise<string[]> {
    const rows = await this.query<{ id: string }>(
      `SELECT DISTINCT i.id FROM tasks t JOIN task_dependencies d ON d.task_id = t.id JOIN tasks i ON i.id = d.input_id
       WHERE t.status = ${WAITING} AND i.status IN ('failed', 'cancelled') LIMIT $1::int`,
      limit,
    );
    return rows.map((r) => r.id);
  }

  /**
   * Waiting dependents become waiting for their endpoint, with these args; returns those that moved. An
   * input whose result is an object now refers the dependent to that object (task_objects, in the same
   * statement), so the dependent's endpoint may fetch it and it is kept while the dependent can run.
   */
  promote(rows: Array<{ id: string; args: unknown[]; kwargs: Record<string, unknown> }>): Promise<QueuedRow[]> {
    return this.query<QueuedRow>(
      `WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, args jsonb, kwargs jsonb)),
            locked AS MATERIALIZED (${tasksOfFrame('x', 'id', `status = ${WAITING}`)}),
            moved AS (
              UPDATE tasks t SET status = 'waiting-for-endpoint', args = x.args, kwargs = x.kwargs, ready_at = now(), waiting_at = now()
              FROM x JOIN locked ON locked.id = x.id
              WHERE t.id = x.id AND t.status = ${WAITING}
              RETURNING ${queuedColumns('t.')}),
            refs AS (${inputObjects('SELECT id FROM moved')})
       SELECT ${queuedColumns()} FROM moved`,
      json(rows),
    );
  }

  /**
   * Memoized dependents made ready, each with its key (from its args with the results in place): one
   * whose key has a live entry completes from it at once, as a submitted hit does (`cached_from`); the
   * others wait (`received`) for their key's one execution, which CacheService starts (`started`) as for a
   * submission. The entries are found by their keys (the primary key), one probe per row.
   */
  promoteMemoized(rows: Array<{ id: string; args: unknown[]; kwargs: Record<string, unknown>; cache_key: string }>): Promise<MemoizedMove[]> {
    return this.query<MemoizedMove>(
      `WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, args jsonb, kwargs jsonb, cache_key text)),
            locked AS MATERIALIZED (${tasksOfFrame('x', 'id', `status = ${WAITING}`)}),
            hit AS (SELECT x.id, e.task_id, e.result, e.output FROM x CROSS JOIN ${liveEntry('x.cache_key')}),
            moved AS (
              UPDATE tasks t SET status = CASE WHEN hit.id IS NULL THEN 'received' ELSE 'success' END, args = x.args, kwargs = x.kwargs,
                     cache_key = x.cache_key, ready_at = now(), cached_from = hit.task_id, result = hit.result, output = hit.output,
                     completed_at = CASE WHEN hit.id IS NOT NULL THEN now() END
              FROM x JOIN locked ON locked.id = x.id LEFT JOIN hit ON hit.id = x.id
              WHERE t.id = x.id AND t.status = ${WAITING}
              RETURNING t.id, t.owner_id, t.status, t.result, t.error, t.output, t.completed_at, t.cached_from, ${cachedFromOwner('t')}),
            refs AS (${inputObjects(`SELECT id FROM moved WHERE status = 'received'`)})
       SELECT * FROM moved`,
      json(rows),
    );
  }

  /** Waiting dependents end (failed or cancelled, with their error); returns the outcomes recorded. */
  finish(rows: Array<{ id: string; status: 'failed' | 'cancelled'; error: RemoteError }>): Promise<OutcomeRow[]> {
    return this.query<OutcomeRow>(
      `WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, status text, error jsonb)),
            locked AS MATERIALIZED (${tasksOfFrame('x', 'id', `status = ${WAITING}`)})
       UPDATE tasks t SET status = x.status, error = x.error, completed_at = now()
       FROM x JOIN locked ON locked.id = x.id
       WHERE t.id = x.id AND t.status = ${WAITING}
       RETURNING t.id, t.owner_id, t.status, t.result, t.error, t.output, t.completed_at`,
      json(rows),
    );
  }
}
