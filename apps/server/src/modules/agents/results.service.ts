import { Injectable, Logger } from '@nestjs/common';
import { ENDPOINT_CLOSE, type EndpointToServer, type LogChunk, type TaskResult } from '@fx/protocol';
import { TasksRepository, type OutcomeRow, type ResultInput } from '../tasks/tasks.repository.js';
import { EventsService } from '../events/events.service.js';
import { OutcomesService } from '../dependencies/outcomes.service.js';
import { RetriesService } from '../retries/retries.service.js';
import { ObjectRefsService } from '../objects/object-refs.service.js';
import { CopiesRepository } from '../speculation/copies.repository.js';
import { DispatchService } from './dispatch.service.js';
import type { EndpointConnection } from './endpoint-connection.js';
import { UsageRecordsRepository } from '../accounting/usage-records.repository.js';
import { usageRows } from '../accounting/accounting-rows.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { saneTime } from './agent-clock.js';
import { ResultBounds } from './result-bounds.js';
import { LiveService } from '../live/live.service.js';
import { LeaseService, type LeaseHolder } from '../leases/lease.service.js';

export { saneTime };

/**
 * How long the agent's lines wait for the results behind them. The agent sends a finished task's lines
 * right before its `results` frame, once the results are in its spool, so the frame behind normally
 * comes within the same read; lines that no results follow (a running task's) are stored alone after
 * this wait. Watchers see a running task's lines that much later; no result ever waits for it.
 */
const LINES_WAIT_MS = 20;
/** Most results recorded in one statement when frames are recorded together. */
const MAX_RESULTS_PER_STATEMENT = 2_000;

/** What agents report of the tasks leased to them: that they started, and their results. */
@Injectable()
export class ResultsService {
  private readonly logger = new Logger('Results');
  /** Per connection: the finished tasks whose stored outcome a resend of it published again already. */
  private readonly republished = new WeakMap<LeaseHolder, Set<string>>();

  constructor(
    private readonly bounds: ResultBounds,
    private readonly tasks: TasksRepository,
    private readonly events: EventsService,
    private readonly outcomes: OutcomesService,
    private readonly retries: RetriesService,
    private readonly objectRefs: ObjectRefsService,
    private readonly copies: CopiesRepository,
    private readonly dispatch: DispatchService,
    private readonly usage: UsageRecordsRepository,
    private readonly metrics: MetricsService,
    private readonly live: LiveService,
    private readonly leases: LeaseService,
  ) {}

  /** Tasks leased to this connection start running; only they change (and show as running in live views). */
  async started(conn: LeaseHolder, tasks: EndpointToServer['started']['tasks']): Promise<void> {
    const started = tasks.filter((t) => !t.copy).map((t) => ({ taskId: t.taskId, startedAt: saneTime(t.startedAt) ?? Date.now() }));
    const copies = tasks.filter((t) => t.copy).map((t) => ({ taskId: t.taskId, startedAt: saneTime(t.startedAt) ?? Date.now() }));
    if (copies.length > 0) await this.copies.markRunning(conn.endpointId, conn.id, copies);
    if (started.length === 0) return;
    const changed = await this.tasks.markRunning(conn.endpointId, conn.id, started);
    this.events.noteTaskStates('running', conn.endpointId, changed);
  }

  /**
   * A `results` frame, recorded off the frame chain: credits and heartbeats behind it are not held up by
   * the statement, and frames that arrive while one is recorded are recorded together in the next
   * (group commit). Each frame is acknowledged once its results are durable. `bytes`: the frame's size,
   * held against the connection's inbound budget (InboundBudget) until its results are recorded.
   */
  accept(conn: EndpointConnection, results: TaskResult[], bytes = 0): void {
    conn.inbound.hold(bytes);
    conn.resultFrames.push(results);
    conn.resultBytes.push(bytes);
    if (!conn.recording) void this.recordFrames(conn);
  }

  /**
   * The agent's lines from a `stream` frame of nothing else: the agent sends a finished task's lines
   * right before its result, so they wait up to LINES_WAIT_MS for the `results` frame behind them and
   * are stored in its statement, not in one more round trip before it. Lines
   * that no results follow in that time (a running task's) are stored alone.
   */
  acceptLines(conn: EndpointConnection, lines: LogChunk[], bytes = 0): void {
    conn.inbound.hold(bytes);
    conn.agentLinesBytes += bytes;
    conn.agentLines.push(...lines);
    if (conn.recording || conn.linesDue) return;
    conn.linesDue = true;
    setTimeout(() => {
      conn.linesDue = false;
      if (!conn.recording && conn.agentLines.length > 0) void this.recordFrames(conn);
    }, LINES_WAIT_MS);
  }

  /**
   * A stream frame: the agent's lines alone (a finished task's come just before its result) go with the
   * results behind them (acceptLines); anything else goes after the lines before it (watchers take each
   * task's chunks in seq order), awaited on the frame chain: published before a results frame behind it is recorded.
   */
  async stream(conn: EndpointConnection, payload: EndpointToServer['stream'], bytes: number): Promise<void> {
    const lines = this.live.agentLinesOnly(payload);
    if (lines) return this.acceptLines(conn, lines, bytes);
    await this.settleLines(conn);
    return this.live.ingest(conn, payload);
  }

  /** Resolves once the lines accepted so far are stored and published (what a stream frame behind them waits for). */
  async settleLines(conn: EndpointConnection): Promise<void> {
    while (conn.open && (conn.agentLines.length > 0 || conn.linesInFlight)) {
      if (!conn.recording) void this.recordFrames(conn);
      await conn.recorded;
    }
  }

  /** Records the waiting results frames (and lines), as few statements as possible; each frame gets its own ack. */
  private recordFrames(conn: EndpointConnection): Promise<void> {
    conn.recording = true;
    conn.recorded = this.drain(conn);
    return conn.recorded;
  }

  private async drain(conn: EndpointConnection): Promise<void> {
    try {
      while ((conn.resultFrames.length > 0 || conn.agentLines.length > 0) && conn.open) {
        let take = 0;
        let rows = 0;
        while (take < conn.resultFrames.length && (take === 0 || rows + conn.resultFrames[take]!.length <= MAX_RESULTS_PER_STATEMENT)) {
          rows += conn.resultFrames[take]!.length;
          take++;
        }
        const frames = conn.resultFrames.splice(0, take);
        const held = conn.resultBytes.splice(0, take).reduce((n, b) => n + b, conn.agentLinesBytes);
        conn.agentLinesBytes = 0;
        const lines = conn.agentLines.splice(0);
        conn.linesInFlight = lines.length > 0;
        try {
          if (frames.length > 0) await this.record(conn, frames.flat(), lines);
          else await this.live.storeAgentLines(conn, lines);
        } finally {
          conn.inbound.release(held);
        }
        conn.linesInFlight = false;
        for (const results of frames) {
          const copies = results.filter((r) => r.copy).map((r) => r.taskId);
          conn.send('ack', { taskIds: results.filter((r) => !r.copy).map((r) => r.taskId), ...(copies.length ? { copies } : {}) });
        }
        // its credits came before these results were recorded: now a worker is free to take stolen work
        if (conn.stealBusy) {
          conn.stealBusy = false;
          void this.dispatch.pump(conn);
        }
      }
    } catch (e) {
      // Unacknowledged results stay with the agent, which resends them after reconnecting.
      this.logger.error({ msg: 'recording results failed', endpointId: conn.endpointId, connId: conn.id, err: e });
      conn.resultFrames = [];
      conn.agentLines = [];
      conn.inbound.release(conn.resultBytes.reduce((n, b) => n + b, conn.agentLinesBytes));
      conn.resultBytes = [];
      conn.agentLinesBytes = 0;
      conn.ws.close(ENDPOINT_CLOSE.serverError, 'server error; reconnect');
    } finally {
      // at once: a frame accepted after the last look finds no recording and starts one
      conn.recording = false;
      conn.linesInFlight = false;
    }
  }

  /**
   * Records one frame of results in one statement, then publishes what changed. Returns the ids to
   * acknowledge: all of them, recorded now or before (a duplicate is acknowledged and dropped). Results
   * for tasks this connection does not hold are acknowledged too (so the agent drops them), but are
   * neither recorded nor published: an agent reports only on its own tasks. A failure its task's retry
   * policy retries is not recorded here: RetriesService runs the task again.
   */
  async record(conn: LeaseHolder, results: TaskResult[], lines: LogChunk[] = []): Promise<string[]> {
    // What the attempts used, recorded while the leases that entitle this connection to report it hold:
    // in the results' own statement, or first, for the results whose leases another statement ends
    // (speculative copies, failures a retry policy may divert).
    const ownStatement = (r: TaskResult) => !r.copy && !(r.status === 'failed' && r.error);
    const usage = usageRows(results.filter(ownStatement));
    await this.usage.record(conn.endpointId, conn.id, usageRows(results.filter((r) => !ownStatement(r))));
    const copies = results.filter((r) => r.copy);
    if (copies.length > 0) {
      this.metrics.results({ copy: copies.length });
      await this.recordCopies(conn, copies);
      results = results.filter((r) => !r.copy);
    }
    // results reported as objects: each must hold its own task's output (else the task fails OBJECT_UNAVAILABLE)
    const refs = await this.objectRefs.checkResults(results);
    const inputs: ResultInput[] = await this.retries.divert(
      conn,
      results.map((r) => ({ ...this.bounds.enforce(r, refs.get(r.taskId)), attempt: r.attempt })),
    );
    const { outcomes: recorded, lines: stored } = await this.tasks.recordResults(conn.endpointId, conn.id, inputs, {
      usage,
      ...(lines.length > 0 ? { lines: this.bounds.lines(lines) } : {}),
    });
    // published before the outcomes: watchers see a task's lines before its end, as when they were stored first
    this.live.publishLines(stored);
    let again: OutcomeRow[] = [];
    let ignored = 0;
    let replayed = 0;
    if (recorded.length < inputs.length) {
      // Already final: a resend after a reconnect. The first recording may never have been published
      // (its replica died after the commit, or the broker was down), so publish the stored outcome
      // again; clients drop what they already have. Only tasks of this endpoint: naming someone else's
      // finished task must not re-publish its outcome anywhere.
      // Once per connection and task, and only of the last hour: an agent (another user's, in an
      // endpoint group) naming finished tasks again and again must not make the server re-read their
      // results and send them to their owner's sockets at every frame.
      const changed = new Set(recorded.map((r) => r.id));
      const rest = [...new Set(inputs.map((r) => r.taskId).filter((id) => !changed.has(id)))];
      const sent = republishedOn(this.republished, conn);
      const fresh = rest.filter((id) => !sent.has(id));
      again = fresh.length ? await this.tasks.findFinalOutcomesOfEndpoint(conn.endpointId, fresh) : [];
      for (const a of again) sent.add(a.id);
      replayed = rest.length - fresh.length;
      ignored = fresh.length - again.length;
      if (ignored > 0) {
        const taskIds = fresh.filter((id) => !again.some((a) => a.id === id)).slice(0, 10);
        this.logger.warn({
          msg: 'ignored results for tasks not held by this connection (or finished over an hour ago)',
          endpointId: conn.endpointId,
          connId: conn.id,
          ignored,
          of: inputs.length,
          taskIds,
        });
      }
    }
    this.metrics.results({ recorded: recorded.length, duplicate: again.length + replayed, ignored, retried: results.length - inputs.length });
    await this.outcomes.published(recorded);
    await this.outcomes.published(again, { again: true });
    return results.map((r) => r.taskId);
  }

  /**
   * Results of speculative copies leased to this connection (those of other connections are dropped):
   * a success completes its task unless something else did first, and the original attempt, still
   * running, is told to stop; a failure only ends the copy (the original decides, or, given up beside
   * the copy, is requeued now), except that a copy its agent refused before it ran is placed again on
   * another member by the sweep, as one refused at its grant (CopiesRepository.recordFailures). Never retried.
   */
  private async recordCopies(conn: LeaseHolder, results: TaskResult[]): Promise<void> {
    const refs = await this.objectRefs.checkResults(results, true);
    const inputs = results.map((r) => this.bounds.enforce(r, refs.get(r.taskId)));
    const failed = inputs.filter((r) => r.status === 'failed');
    const won = await this.copies.recordWins(
      conn.endpointId,
      conn.id,
      inputs.filter((r) => r.status === 'success'),
    );
    if (failed.length > 0) {
      const { ended, refused } = await this.copies.recordFailures(conn.endpointId, conn.id, failed);
      await this.leases.copiesEnded(ended);
      if (refused.length > 0)
        this.logger.log({
          msg: 'the agent refused speculative copies before they ran; the sweep places them on another member',
          endpointId: conn.endpointId,
          connId: conn.id,
          refused: refused.length,
          taskIds: refused.slice(0, 10),
        });
    }
    if (won.length > 0)
      this.logger.log({
        msg: 'speculative copies won',
        endpointId: conn.endpointId,
        connId: conn.id,
        won: won.length,
        taskIds: won.slice(0, 10).map((w) => w.id),
      });
    const superseded = new Map<string, string[]>();
    for (const w of won) if (w.superseded_owner) superseded.set(w.endpoint_id, [...(superseded.get(w.endpoint_id) ?? []), w.id]);
    for (const [endpointId, taskIds] of superseded) await this.events.publish('cancel', { endpointId, taskIds, copy: false });
    await this.outcomes.published(won);
  }
}

/** Most task ids a connection's resends are remembered by: past it, the oldest are forgotten. */
const REPUBLISHED_PER_CONNECTION = 100_000;

function republishedOn(byConnection: WeakMap<LeaseHolder, Set<string>>, conn: LeaseHolder): Set<string> {
  let sent = byConnection.get(conn);
  if (!sent) byConnection.set(conn, (sent = new Set()));
  if (sent.size > REPUBLISHED_PER_CONNECTION) for (const id of [...sent].slice(0, sent.size / 2)) sent.delete(id);
  return sent;
}
