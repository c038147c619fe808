import { Injectable } from '@nestjs/common';
import { KEPT_PROGRESS, type LogChunk, type LogStream, type ProgressEvent, type TaskStatus } from '@fx/protocol';
import { SqlRepository } from '../../storage/sql.repository.js';
import { HELD, idsIn, json, tasksOfFrame } from '../tasks/task-sql.js';

/** What an agent connection reports of one of its tasks in one `stream` frame. */
export interface ProgressUpdate {
  taskId: string;
  attempt: number;
  /** In seq order; the server keeps the last KEPT_PROGRESS. */
  items: ProgressEvent[];
  /** Set when the agent dropped log text of this task past its bound. */
  truncated: boolean;
}

/** Whose a task is and where it stands. */
export interface TaskState {
  id: string;
  owner_id: string;
  status: TaskStatus;
}

/** A task's live state as the REST views read it (LiveRepository.heads). */
export interface LiveHead extends TaskState {
  progress: ProgressEvent[] | null;
  progress_emitted: number;
  logs_truncated: boolean;
}

export type StoredChunk = LogChunk & { ownerId: string };

/** Which chunks a read wants: one stream, or all; the agent's lines only when asked for. */
export interface LogsFilter {
  stream?: LogStream;
  agent: boolean;
}

/** A stored line as agentLinesSteps' `stored` returns it (jsonb). */
export interface StoredLine {
  task_id: string;
  attempt: number;
  seq: number;
  stream: LogStream;
  at: number;
  chunk: string;
  owner_id: string;
}

/** Chunks as the statements take them ($1 of store, `chunks` of agentLinesSteps). */
export function agentLineRows(chunks: LogChunk[]): string {
  return json(chunks.map((c) => ({ task_id: c.taskId, attempt: c.attempt, seq: c.seq, stream: c.stream, at: c.at, chunk: c.text })));
}

export function toStoredChunks(rows: StoredLine[]): StoredChunk[] {
  return rows.map((r) => ({ taskId: r.task_id, attempt: r.attempt, seq: r.seq, stream: r.stream, at: Number(r.at), text: r.chunk, ownerId: r.owner_id }));
}

/**
 * The steps that store the agent's lines (stream `agent`) about tasks leased to this connection, in their
 * current attempt: no lock and no update of the task row but for the flag below. Each line finds its task
 * by the primary key alone, as tasksOfFrame does (OFFSET 0: nothing to reorder): joined with the frame's
 * tasks instead, the planner, expecting one line, probed every task of the frame for each line (1.7 M
 * probes, 3 s, for a 1,300-line frame). They have their own
 * bound, `maxBytes` per attempt, summed from the lines already stored (a handful of rows); past it they
 * are dropped and `truncate` (an UPDATE, for the caller to run as a step) marks the task `logs_truncated`.
 * `stored` is an expression: the lines stored, as a jsonb array of StoredLine in each task's seq order.
 * The steps see the tasks as the statement found them: as a step of the statement that records results
 * (TasksRepository.recordResults), the lines of a task are stored while its lease holds, as when they
 * came first in a statement of their own. There the flag is set in the results' own
 * UPDATE (a row may be updated once per statement), joining `l_trunc` (the tasks whose lines went
 * past the bound), and `truncate` skips the rows in `skip`.
 * The connection's frames are handled in order, so its lines and results about one task never race; a
 * lease lost meanwhile drops at most a frame of lines.
 */
export function agentLinesSteps(p: { chunks: string; endpoint: string; leaseOwner: string; maxBytes: string; skip?: string }) {
  const steps = `l_v AS (SELECT * FROM jsonb_to_recordset(${p.chunks}::jsonb) AS r(task_id uuid, attempt int, seq int, stream text, at float8, chunk text)),
       l_c AS (SELECT v.*, held.owner_id,
               COALESCE((SELECT sum(octet_length(l.chunk)) FROM task_logs l
                         WHERE l.task_id = v.task_id AND l.attempt = v.attempt AND l.stream = 'agent'), 0)
               + sum(octet_length(v.chunk)) OVER (PARTITION BY v.task_id ORDER BY v.seq) AS upto
             FROM l_v v CROSS JOIN LATERAL (SELECT owner_id, endpoint_id, lease_owner, status, attempt FROM tasks WHERE tasks.id = v.task_id OFFSET 0) held
             WHERE v.stream = 'agent' AND held.attempt = v.attempt AND held.endpoint_id = ${p.endpoint}::uuid AND held.lease_owner = ${p.leaseOwner}
               AND held.status IN ${HELD}),
       l_ins AS (INSERT INTO task_logs (task_id, attempt, seq, stream, at, chunk)
                 SELECT task_id, attempt, seq, stream, to_timestamp(at / 1000.0), chunk FROM l_c WHERE upto <= ${p.maxBytes}::int
                 ON CONFLICT DO NOTHING RETURNING task_id, attempt, seq, stream, chunk, (extract(epoch FROM at) * 1000)::float8 AS at),
       l_trunc AS (SELECT DISTINCT task_id FROM l_c WHERE upto > ${p.maxBytes}::int)`;
  const truncate = `UPDATE tasks t SET logs_truncated = true
               WHERE t.id IN (SELECT task_id FROM l_trunc) AND NOT t.logs_truncated
               ${p.skip ? `AND t.id NOT IN (SELECT id FROM ${p.skip})` : ''}`;
  // From the rows inserted, each with its owner by a primary-key probe: joined with `l_c` instead, both
  // CTEs estimated at one row, the planner compared every line with every line (17 M comparisons, 2 s,
  // for a frame of 4,164 lines).
  const stored = `(SELECT jsonb_agg(jsonb_build_object('task_id', i.task_id, 'attempt', i.attempt, 'seq', i.seq, 'stream', i.stream, 'at', i.at,
                                   'chunk', i.chunk, 'owner_id', o.owner_id) ORDER BY i.task_id, i.seq)
            FROM l_ins i CROSS JOIN LATERAL (SELECT owner_id FROM tasks WHERE tasks.id = i.task_id OFFSET 0) o)`;
  return { steps, truncate, stored };
}

/** Progress values and log chunks of running tasks (live.ts in @fx/protocol), and who may read them. */
@Injectable()
export class LiveRepository extends SqlRepository {
  /**
   * Keeps the latest progress values of tasks leased to this connection, in their current attempt (an
   * update for another attempt or another connection's task changes nothing), in one statement.
   * Returns the tasks updated, with their owner: only their items may be relayed.
   */
  async recordProgress(endpointId: string, leaseOwner: string, updates: ProgressUpdate[]): Promise<Array<{ id: string; owner_id: string }>> {
    const rows = updates.map((u) => ({
      id: u.taskId,
      attempt: u.attempt,
      items: u.items,
      emitted: u.items.reduce((n, i) => Math.max(n, i.seq), 0),
      truncated: u.truncated,
    }));
    // The kept array: the attempt's earlier values (none when the attempt changed) then these, the last KEPT_PROGRESS of them.
    const merged = `(CASE WHEN t.progress_attempt = x.attempt THEN COALESCE(t.progress, '[]'::jsonb) ELSE '[]'::jsonb END) || x.items`;
    return this.query(
      `WITH x AS (SELECT DISTINCT ON (id) * FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, attempt int, items jsonb, emitted int, truncated boolean)),
            locked AS MATERIALIZED (${tasksOfFrame('x', 'id', `endpoint_id = $2::uuid AND lease_owner = $3 AND status IN ${HELD}`)})
       UPDATE tasks t SET
         progress = CASE WHEN jsonb_array_length(x.items) = 0 THEN t.progress ELSE
           (SELECT jsonb_agg(e ORDER BY i) FROM jsonb_array_elements(${merged}) WITH ORDINALITY AS a(e, i)
             WHERE i > jsonb_array_length(${merged}) - $4::int) END,
         progress_emitted = CASE WHEN jsonb_array_length(x.items) = 0 THEN t.progress_emitted
           WHEN t.progress_attempt = x.attempt THEN GREATEST(t.progress_emitted, x.emitted) ELSE x.emitted END,
         progress_attempt = CASE WHEN jsonb_array_length(x.items) = 0 THEN t.progress_attempt ELSE x.attempt END,
         logs_truncated = t.logs_truncated OR x.truncated
       FROM x JOIN locked ON locked.id = x.id
       WHERE t.id = x.id AND t.attempt = x.attempt
       RETURNING t.id, t.owner_id`,
      json(rows),
      endpointId,
      leaseOwner,
      KEPT_PROGRESS,
    );
  }

  /**
   * Stores log chunks of tasks leased to this connection (their current attempt only), in one
   * statement: each task's chunks in seq order while its stored text stays within `maxBytes`; past it
   * they are dropped and the task marked `logs_truncated`. Returns the chunks stored.
   */
  appendLogs(endpointId: string, leaseOwner: string, chunks: LogChunk[], maxBytes: number): Promise<StoredChunk[]> {
    return this.store(
      `locked AS MATERIALIZED (${tasksOfFrame('v', 'task_id', `endpoint_id = $2::uuid AND lease_owner = $3 AND status IN ${HELD}`, {
        columns: 'id, owner_id, attempt, log_bytes',
      })}),
       c AS (SELECT v.*, locked.owner_id,
               locked.log_bytes + sum(octet_length(v.chunk)) OVER (PARTITION BY v.task_id ORDER BY v.seq) AS upto
             FROM v JOIN locked ON locked.id = v.task_id AND locked.attempt = v.attempt),
       sums AS (SELECT task_id, COALESCE(sum(octet_length(chunk)) FILTER (WHERE upto <= $4::int), 0) AS bytes, bool_or(upto > $4::int) AS dropped
                FROM c GROUP BY task_id),
       upd AS (UPDATE tasks t SET log_bytes = t.log_bytes + sums.bytes, logs_truncated = t.logs_truncated OR sums.dropped
               FROM sums WHERE t.id = sums.task_id)`,
      [endpointId, leaseOwner, chunks, maxBytes],
    );
  }

  /**
   * Stores the agent's lines (stream `agent`) about tasks leased to this connection, in their current
   * attempt, in one statement (agentLinesSteps). Cheaper than appendLogs, because every task has a few
   * (it runs on the hot path): no lock. Lines about a finished task usually travel with its result instead
   * (TasksRepository.recordResults), in the results' statement.
   */
  async appendAgentLines(endpointId: string, leaseOwner: string, chunks: LogChunk[], maxBytes: number): Promise<StoredChunk[]> {
    const l = agentLinesSteps({ chunks: '$1', endpoint: '$2', leaseOwner: '$3', maxBytes: '$4' });
    const [row] = await this.query<{ stored: StoredLine[] | null }>(
      `WITH ${l.steps}, l_upd AS (${l.truncate}) SELECT ${l.stored} AS stored`,
      agentLineRows(chunks),
      endpointId,
      leaseOwner,
      maxBytes,
    );
    return toStoredChunks(row?.stored ?? []);
  }

  /**
   * The statement both appends share: `v` (the chunks), then `steps` (which must define `c`, the chunks
   * that may be stored with their owner and running byte total `upto`), then the INSERT of those within
   * $4 bytes. Returns the chunks stored, in each task's seq order.
   */
  private async store(steps: string, [endpointId, leaseOwner, chunks, maxBytes]: [string, string, LogChunk[], number]): Promise<StoredChunk[]> {
    const stored = await this.query<StoredLine>(
      `WITH v AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(task_id uuid, attempt int, seq int, stream text, at float8, chunk text)),
            ${steps},
            ins AS (INSERT INTO task_logs (task_id, attempt, seq, stream, at, chunk)
                    SELECT task_id, attempt, seq, stream, to_timestamp(at / 1000.0), chunk FROM c WHERE upto <= $4::int
                    ON CONFLICT DO NOTHING RETURNING task_id, attempt, seq)
       SELECT c.task_id, c.attempt, c.seq, c.stream, c.at, c.chunk, c.owner_id
       FROM c JOIN ins ON ins.task_id = c.task_id AND ins.attempt = c.attempt AND ins.seq = c.seq
       ORDER BY c.task_id, c.seq`,
      agentLineRows(chunks),
      endpointId,
      leaseOwner,
      maxBytes,
    );
    return toStoredChunks(stored);
  }

  /** Whose these tasks are and where they stand: all a watch reads before it knows which of them its user may see. */
  states(ids: string[]): Promise<TaskState[]> {
    return this.query(`SELECT id, owner_id, status FROM tasks WHERE id IN ${idsIn('$1')}`, json(ids));
  }

  /**
   * The kept progress of these tasks' current attempts (a watch's catch-up), in id order, ending before
   * the task whose values would start past `maxBytes` of their text (never before the first): ten
   * thousand tasks may keep 256 KiB each. The sizes are summed apart, so only the values sent are read.
   */
  keptProgress(ids: string[], maxBytes: number): Promise<Array<{ id: string; progress: ProgressEvent[] }>> {
    return this.query(
      `WITH sized AS (SELECT id, octet_length(progress::text) AS bytes FROM tasks
                      WHERE id IN ${idsIn('$1')} AND progress IS NOT NULL AND progress_attempt = attempt),
            ranked AS (SELECT id, row_number() OVER w AS rn, sum(bytes) OVER w - bytes AS before_bytes FROM sized WINDOW w AS (ORDER BY id))
       SELECT t.id, t.progress FROM ranked r CROSS JOIN LATERAL (SELECT id, progress FROM tasks WHERE tasks.id = r.id OFFSET 0) t
       WHERE r.rn = 1 OR r.before_bytes < $2::bigint
       ORDER BY t.id`,
      json(ids),
      maxBytes,
    );
  }

  /**
   * The REST views' heads of these tasks. Progress only of the tasks `viewer` owns (null: an admin, any):
   * the owner is checked after the read, and another user's values (up to 256 KiB a task) are never read.
   */
  heads(ids: string[], viewer: string | null): Promise<LiveHead[]> {
    return this.query(
      `SELECT id, owner_id, status, CASE WHEN progress_attempt = attempt AND ($2::uuid IS NULL OR owner_id = $2::uuid) THEN progress END AS progress,
              CASE WHEN progress_attempt = attempt THEN progress_emitted ELSE 0 END AS progress_emitted, logs_truncated
       FROM tasks WHERE id IN ${idsIn('$1')}`,
      json(ids),
      viewer,
    );
  }

  /**
   * Stored chunks of each task's latest attempt that has any, after `afterSeq`, oldest first, at most
   * `limit` in all. Without `agent`, the agent's lines neither show nor decide the attempt (every attempt
   * has some, so what a task printed stays readable while its next attempt waits, as before they existed).
   */
  async logs(ids: string[], afterSeq: number, limit: number, filter: LogsFilter = { agent: false }, maxBytes: number | null = null): Promise<LogChunk[]> {
    // `maxBytes`: the chunks end before the one that would start past it (never before the first)
    const rows = await this.query<{ task_id: string; attempt: number; seq: number; stream: LogStream; at: Date; chunk: string }>(
      `SELECT task_id, attempt, seq, stream, at, chunk FROM (
         SELECT *, row_number() OVER w AS rn, sum(octet_length(chunk)) OVER w - octet_length(chunk) AS before_bytes FROM (
           SELECT l.task_id, l.attempt, l.seq, l.stream, l.at, l.chunk FROM task_logs l
           WHERE l.task_id IN ${idsIn('$1')} AND l.seq > $2::int AND ($4::text IS NULL OR l.stream = $4::text) AND ($5::boolean OR l.stream <> 'agent')
             AND l.attempt = (SELECT max(m.attempt) FROM task_logs m WHERE m.task_id = l.task_id AND ($5::boolean OR m.stream <> 'agent'))
           ORDER BY l.task_id, l.seq LIMIT $3::int) c
         WINDOW w AS (ORDER BY task_id, seq)) s
       WHERE $6::bigint IS NULL OR rn = 1 OR before_bytes < $6::bigint
       ORDER BY task_id, seq`,
      json(ids),
      afterSeq,
      limit,
      filter.stream ?? null,
      filter.agent,
      maxBytes,
    );
    return rows.map((r) => ({ taskId: r.task_id, attempt: r.attempt, seq: r.seq, stream: r.stream, at: new Date(r.at).getTime(), text: r.chunk }));
  }
}
