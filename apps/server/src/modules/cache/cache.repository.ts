import { Injectable } from '@nestjs/common';
import { SqlRepository } from '../../storage/sql.repository.js';
import type { OutcomeRow, QueuedRow } from '../tasks/tasks.repository.js';
import { FINAL, idsIn, json, queuedColumns, tasksOfFrame } from '../tasks/task-sql.js';
import { liveEntry } from './cache-sql.js';
import { cachedFromOwner } from '../tasks/cached-source.js';

/** Keys travel as one jsonb array, like ids. */
const keysIn = (param: string) => `(SELECT value FROM jsonb_array_elements_text(${param}::jsonb))`;
/** An entry that serves tasks now. */
const OUTCOME = `t.id, t.owner_id, t.status, t.result, t.error, t.output, t.completed_at, t.cached_from, ${cachedFromOwner('t')}`;
/**
 * The keys of $1 (aliased `k`, in key order), and the tasks waiting on key `k.key`, locked (FOLLOWERS,
 * a lateral probe of the followers' partial index). The statements over followers start from the keys
 * and probe once per key, then update through the primary key alone: a row the probe locked is checked
 * again there (still `received`) once a statement that held it commits, so two replicas move each
 * follower once, and locks are taken in key order. Left to itself the planner, which takes the few
 * `received` tasks for one row, put them outside and read the key list once per task: quadratic, 1.4 s
 * for a batch of 10,000 misses (hence also no state condition on the outer UPDATE, which it would use).
 */
const KEYS = `(SELECT DISTINCT value AS key FROM jsonb_array_elements_text($1::jsonb) ORDER BY 1) k`;
const FOLLOWERS = `SELECT id FROM tasks WHERE cache_key = k.key AND status = 'received' ORDER BY id FOR UPDATE`;

/**
 * Whether task `t` is placed on another user's endpoint (an endpoint group's member): its outcome fills
 * no entry (`fills`), so it is a reader too. Had it claimed its key's entry, its owner's identical tasks
 * on her own endpoints would wait for it, for as long as that member's agent held it without a word.
 */
const onOthersEndpoint = (t: string) => `EXISTS (SELECT 1 FROM endpoints en WHERE en.id = ${t}.endpoint_id AND en.owner_id <> ${t}.owner_id)`;

/**
 * Whether task `t` only reads its scope's entries: another user's task of a public shareable function
 * (its scope is the function owner's). Its outcome can never fill the entry (`fills`), so it never
 * claims one (its owner would hold everyone else's identical tasks on an execution that fills nothing,
 * for as long as it liked, on an endpoint that never runs it) and never waits on one either (which
 * would tell it that the owner is running these arguments now): it completes from a ready entry, or
 * runs itself.
 */
const reader = (t: string) => `((${t}.cache_scope LIKE 'shared:%' AND ${t}.cache_scope <> 'shared:' || ${t}.owner_id::text) OR ${onOthersEndpoint(t)})`;

/** The oldest follower (`orphan`) of each key without a live entry takes it, pending on it; returns the tasks that did. */
const CLAIM = `INSERT INTO task_cache (key, scope, content_hash, task_id, state, ttl_seconds, created_at)
  SELECT o.cache_key, o.cache_scope, f.content_hash, o.id, 'pending', o.cache_ttl_seconds, now() FROM orphan o JOIN functions f ON f.id = o.function_id
  ON CONFLICT (key) DO UPDATE SET scope = EXCLUDED.scope, content_hash = EXCLUDED.content_hash, task_id = EXCLUDED.task_id,
    state = 'pending', result = NULL, output = NULL, ttl_seconds = EXCLUDED.ttl_seconds, created_at = now(), expires_at = NULL
  WHERE task_cache.state = 'ready' AND task_cache.expires_at <= now()
  RETURNING task_id`;
/** Followers (`m`: id, and the entry's task_id, result, output), locked and still waiting, complete with their entry's result. */
const COMPLETE = `UPDATE tasks t SET status = 'success', result = m.result, output = m.output, cached_from = m.task_id, completed_at = now()
  FROM m WHERE t.id = m.id
  RETURNING ${OUTCOME}`;

/** What a final task did to its key's entry: filled it with its result, or gave up the execution it held. */
export type EntryChange = { key: string; how: 'filled' | 'dropped' };

/**
 * The entries of memoized results (`task_cache`) and the tasks that wait on them. Every statement is one
 * round trip for a whole batch, and each move of a task is conditional on its state, so two replicas (or
 * a sweep) doing the same move do it once. Tasks that wait for an identical task's execution (followers)
 * are `received` with their cache key; the task an entry is `pending` on is the one execution they share.
 */
/**
 * Whether an ended task's outcome may fill its entry: a success that ran on an endpoint of its owner's
 * (`own_run`), and, in a shared scope (a public shareable function), a task of the function's owner.
 * Another user's task ran on that user's own endpoint, whose agent could return anything: it may read
 * the shared entries, never write them (its entry is dropped instead, and the tasks waiting on it run
 * themselves). Nor may a task that an endpoint group placed on a member endpoint of another user, or
 * whose speculative copy won there, fill any entry, its owner's private ones included: that agent
 * could have returned anything too, and the entry would outlive the member's place in the group.
 * A result stored as an object (result_ref) fills no entry either: the object is its owner's, held for
 * its task's retention, and a shared entry's readers could not read it; the tasks waiting on it run
 * themselves.
 */
const fills = (t: string) => `(${t}.status = 'success' AND ${t}.result_ref IS NULL AND ${t}.own_run AND NOT ${reader(t)})`;
/** Whether task `t`'s result came from an endpoint of its owner's: the endpoint of its winning copy, if one won, else its own. */
const ownRun = (t: string) => `COALESCE((SELECT en.owner_id = ${t}.owner_id FROM endpoints en
             WHERE en.id = COALESCE((SELECT c.endpoint_id FROM task_copies c WHERE c.task_id = ${t}.id AND c.status = 'won' LIMIT 1), ${t}.endpoint_id)), false)`;

@Injectable()
export class CacheRepository extends SqlRepository {
  /**
   * For each of these keys with followers but no live entry, the oldest follower takes the entry (pending
   * on it) and joins its endpoint's queue; the others keep waiting for it. Returns the tasks to enqueue.
   */
  claimOrphans(keys: string[]): Promise<QueuedRow[]> {
    return this.query(
      `WITH orphan AS MATERIALIZED (
         SELECT o.* FROM ${KEYS} CROSS JOIN LATERAL (
           SELECT t.id, t.cache_key, t.cache_scope, t.cache_ttl_seconds, t.function_id FROM tasks t
           WHERE t.cache_key = k.key AND t.status = 'received' AND NOT ${reader('t')} ORDER BY t.received_at, t.id LIMIT 1 FOR UPDATE) o
         WHERE NOT EXISTS (SELECT 1 FROM task_cache e WHERE e.key = o.cache_key AND (e.state = 'pending' OR e.expires_at > now()))),
       claimed AS (${CLAIM})
       UPDATE tasks t SET status = 'waiting-for-endpoint', waiting_at = now()
       FROM claimed c WHERE t.id = c.task_id
       RETURNING ${queuedColumns('t.')}`,
      json(keys),
    );
  }

  /** Followers of these keys whose entry is ready complete with its result (cached_from: the task that made it). */
  completeFollowers(keys: string[]): Promise<OutcomeRow[]> {
    return this.query(
      `WITH m AS MATERIALIZED (
         SELECT f.id, e.task_id, e.result, e.output FROM ${KEYS} CROSS JOIN ${liveEntry('k.key')} CROSS JOIN LATERAL (${FOLLOWERS}) f)
       ${COMPLETE}`,
      json(keys),
    );
  }

  /** Followers of these keys stop waiting and run themselves (the execution they waited for failed). */
  releaseFollowers(keys: string[]): Promise<QueuedRow[]> {
    return this.query(
      `WITH m AS MATERIALIZED (SELECT f.id FROM ${KEYS} CROSS JOIN LATERAL (${FOLLOWERS}) f)
       UPDATE tasks t SET status = 'waiting-for-endpoint', waiting_at = now()
       FROM m WHERE t.id = m.id
       RETURNING ${queuedColumns('t.')}`,
      json(keys),
    );
  }

  /**
   * claimOrphans and completeFollowers for tasks that just went in waiting (a submission's misses, the
   * memoized dependents just made ready), found by id: each through the primary key and locked
   * (tasksOfFrame), whatever the planner believes of the followers' indexes. Of these tasks, the oldest
   * of each key without an entry claims it; an older follower of the key from before is left to the sweep
   * (it waits only when its own claim failed). Readers (`reader`) complete from a ready entry or run
   * themselves. Returns the tasks to enqueue and those completed.
   */
  async startTasks(ids: string[]): Promise<{ queued: QueuedRow[]; completed: OutcomeRow[] }> {
    const mine = `x AS (SELECT value::uuid AS id FROM jsonb_array_elements_text($1::jsonb)),
       mine AS MATERIALIZED (${tasksOfFrame('x', 'id', `status = 'received'`, { columns: 't.id, t.owner_id, t.endpoint_id, t.cache_key, t.cache_scope, t.cache_ttl_seconds, t.function_id, t.received_at' })})`;
    const queued = await this.query<QueuedRow>(
      `WITH ${mine},
       orphan AS (
         SELECT DISTINCT ON (m.cache_key) m.* FROM mine m
         WHERE NOT ${reader('m')} AND NOT EXISTS (SELECT 1 FROM task_cache e WHERE e.key = m.cache_key AND (e.state = 'pending' OR e.expires_at > now()))
         ORDER BY m.cache_key, m.received_at, m.id),
       claimed AS (${CLAIM})
       UPDATE tasks t SET status = 'waiting-for-endpoint', waiting_at = now()
       FROM claimed c WHERE t.id = c.task_id
       RETURNING ${queuedColumns('t.')}`,
      json(ids),
    );
    // an entry that became ready between the insert's read and its commit
    const completed = await this.query<OutcomeRow>(
      `WITH ${mine},
       m AS MATERIALIZED (SELECT mine.id, e.task_id, e.result, e.output FROM mine CROSS JOIN ${liveEntry('mine.cache_key')})
       ${COMPLETE}`,
      json(ids),
    );
    // the readers the entries did not complete run themselves
    const readers = await this.query<QueuedRow>(
      `WITH ${mine}
       UPDATE tasks t SET status = 'waiting-for-endpoint', waiting_at = now()
       FROM mine m WHERE t.id = m.id AND ${reader('m')}
       RETURNING ${queuedColumns('t.')}`,
      json(ids),
    );
    return { queued: [...queued, ...readers], completed };
  }

  /** Readers (`reader`) still waiting after `seconds` (a crash between their insert and startTasks) run themselves. */
  releaseReaders(seconds: number, limit: number): Promise<QueuedRow[]> {
    return this.query<QueuedRow>(
      `WITH stuck AS (
         SELECT t.id FROM tasks t
         WHERE t.status = 'received' AND t.cache_key IS NOT NULL AND t.received_at < now() - $1::int * interval '1 second' AND ${reader('t')}
         ORDER BY t.id LIMIT $2::int FOR UPDATE SKIP LOCKED)
       UPDATE tasks t SET status = 'waiting-for-endpoint', waiting_at = now()
       FROM stuck WHERE t.id = stuck.id
       RETURNING ${queuedColumns('t.')}`,
      seconds,
      limit,
    );
  }

  /**
   * These tasks ended. A memoized one that succeeded fills its key's entry (unless a live one is there
   * already); one that failed or was cancelled while an entry was pending on it drops that entry.
   */
  settle(ids: string[]): Promise<EntryChange[]> {
    return this.query(
      `WITH done AS (
         SELECT t.id, t.status, t.owner_id, t.endpoint_id, t.cache_key, t.cache_scope, t.cache_ttl_seconds, t.result, t.result_ref, t.output, t.function_id,
                ${ownRun('t')} AS own_run
         FROM tasks t
         WHERE t.id IN ${idsIn('$1')} AND t.cache_key IS NOT NULL AND t.cached_from IS NULL AND t.status IN ${FINAL}),
       filled AS (
         INSERT INTO task_cache (key, scope, content_hash, task_id, state, result, output, ttl_seconds, created_at, expires_at)
         SELECT DISTINCT ON (d.cache_key) d.cache_key, d.cache_scope, f.content_hash, d.id, 'ready', d.result, d.output, d.cache_ttl_seconds,
                now(), now() + d.cache_ttl_seconds * interval '1 second'
         FROM done d JOIN functions f ON f.id = d.function_id WHERE ${fills('d')} ORDER BY d.cache_key, d.id
         ON CONFLICT (key) DO UPDATE SET task_id = EXCLUDED.task_id, state = 'ready', result = EXCLUDED.result, output = EXCLUDED.output,
           ttl_seconds = EXCLUDED.ttl_seconds, expires_at = EXCLUDED.expires_at
         WHERE task_cache.state = 'pending' OR task_cache.expires_at <= now()
         RETURNING key),
       dropped AS (
         DELETE FROM task_cache e USING done
         WHERE e.key = done.cache_key AND e.task_id = done.id AND e.state = 'pending' AND NOT ${fills('done')}
           AND NOT EXISTS (SELECT 1 FROM done ok WHERE ok.cache_key = done.cache_key AND ${fills('ok')})
         RETURNING e.key)
       SELECT key, 'filled' AS how FROM filled UNION ALL SELECT key, 'dropped' AS how FROM dropped`,
      json(ids),
    );
  }

  /**
   * Which of the repair's steps may find anything, in one statement (the repair of a server with nothing
   * memoized in flight is this alone, where it was five): pending entries (ended or orphaned holders),
   * followers waiting longer than `seconds` (a superset of the stranded ones), expired entries.
   */
  async repairsDue(seconds: number): Promise<{ pending: boolean; waiting: boolean; expired: boolean }> {
    const rows = await this.query<{ pending: boolean; waiting: boolean; expired: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM task_cache WHERE state = 'pending') AS pending,
              EXISTS (SELECT 1 FROM tasks WHERE status = 'received' AND cache_key IS NOT NULL
                        AND received_at < now() - $1::int * interval '1 second') AS waiting,
              EXISTS (SELECT 1 FROM task_cache WHERE state = 'ready' AND expires_at <= now()) AS expired`,
      seconds,
    );
    return rows[0] ?? { pending: true, waiting: true, expired: true };
  }

  /** Tasks that pending entries wait on and that ended unnoticed (a crash between the two). */
  async endedHolders(limit: number): Promise<string[]> {
    const rows = await this.query<{ task_id: string }>(
      `SELECT e.task_id FROM task_cache e JOIN tasks t ON t.id = e.task_id
       WHERE e.state = 'pending' AND t.status IN ${FINAL} LIMIT $1::int`,
      limit,
    );
    return rows.map((r) => r.task_id);
  }

  /** Pending entries whose task is gone altogether; returns their keys. */
  async dropOrphanedEntries(limit: number): Promise<string[]> {
    const rows = await this.query<{ key: string }>(
      `DELETE FROM task_cache WHERE key IN (
         SELECT e.key FROM task_cache e WHERE e.state = 'pending' AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = e.task_id) LIMIT $1::int)
         AND state = 'pending' AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = task_cache.task_id)
       RETURNING key`,
      limit,
    );
    return rows.map((r) => r.key);
  }

  /** Keys with followers (not readers) waiting longer than `seconds` and no pending entry to wait for. */
  async strandedKeys(seconds: number, limit: number): Promise<string[]> {
    const rows = await this.query<{ cache_key: string }>(
      `SELECT DISTINCT t.cache_key FROM tasks t
       WHERE t.status = 'received' AND t.cache_key IS NOT NULL AND t.received_at < now() - $1::int * interval '1 second' AND NOT ${reader('t')}
         AND NOT EXISTS (SELECT 1 FROM task_cache e WHERE e.key = t.cache_key AND e.state = 'pending')
       LIMIT $2::int`,
      seconds,
      limit,
    );
    return rows.map((r) => r.cache_key);
  }

  /** Drops up to `limit` entries past their expiry; returns how many. */
  async deleteExpired(limit: number): Promise<number> {
    const rows = await this.query<{ n: number }>(
      `WITH gone AS (DELETE FROM task_cache WHERE key IN (SELECT key FROM task_cache WHERE state = 'ready' AND expires_at <= now() LIMIT $1::int)
                     AND state = 'ready' AND expires_at <= now() RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      limit,
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Drops the stored results of a function's content in these scopes (pending executions run on). */
  async clear(contentHash: string, scopes: string[]): Promise<number> {
    const rows = await this.query<{ n: number }>(
      `WITH gone AS (DELETE FROM task_cache WHERE content_hash = $1 AND scope IN ${keysIn('$2')} AND state = 'ready' RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      contentHash,
      json(scopes),
    );
    return Number(rows[0]?.n ?? 0);
  }
}
