import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  MAX_PROGRESS_VALUE_BYTES,
  isFinalStatus,
  type LogChunk,
  type LogStream,
  type ProgressEvent,
  type StreamPayload,
  type TaskLogsResponse,
  type TaskProgressResponse,
} from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { FxException } from '../../common/fx.exception.js';
import { jsonProblem, storableJson } from '../../common/json-safety.js';
import type { Principal } from '../auth/principal.js';
import { EventsService } from '../events/events.service.js';
import type { LeaseHolder } from '../leases/lease.service.js';
import { saneTime } from '../agents/agent-clock.js';
import { LiveRepository, type ProgressUpdate, type StoredChunk } from './live.repository.js';

export interface ParsedTaskLogsQuery {
  afterSeq: number;
  limit: number;
  stream?: LogStream;
  /** Include the agent's lines about the task (stream `agent`); `stream=agent` asks for them too. */
  agent: boolean;
}

/**
 * Live streams of running tasks (issue 16): what agents report in `stream` frames (kept on the task,
 * stored, relayed to watchers through the cluster's `live` event), and the REST views of it.
 */
@Injectable()
export class LiveService {
  private readonly logger = new Logger('Live');

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_MAX_TASK_LOG_BYTES'>,
    private readonly live: LiveRepository,
    private readonly events: EventsService,
  ) {}

  /**
   * One `stream` frame: items of tasks leased to this connection are kept (one statement for progress,
   * one for printed text, one for the agent's lines) and published; items of any other task are
   * dropped, and the agent is not told (it sends live data once, without acks). Awaited on the
   * connection's frame chain, so the items are stored, and published, before a `results` frame sent
   * after them is recorded (the publish itself is not waited for: see below).
   */
  async ingest(conn: LeaseHolder, payload: StreamPayload): Promise<void> {
    const updates = new Map<string, ProgressUpdate>();
    const update = (taskId: string, attempt: number): ProgressUpdate => {
      const key = `${taskId}/${attempt}`;
      let u = updates.get(key);
      if (!u) updates.set(key, (u = { taskId, attempt, items: [], truncated: false }));
      return u;
    };
    for (const p of payload.progress) update(p.taskId, p.attempt).items.push(boundProgress(p));
    for (const t of payload.truncated) update(t.taskId, t.attempt).truncated = true;
    for (const u of updates.values()) u.items.sort((a, b) => a.seq - b.seq);

    const progress: Array<ProgressEvent & { ownerId: string }> = [];
    if (updates.size > 0) {
      const owners = new Map((await this.live.recordProgress(conn.endpointId, conn.id, [...updates.values()])).map((r) => [r.id, r.owner_id]));
      for (const u of updates.values()) {
        const ownerId = owners.get(u.taskId);
        if (ownerId) for (const item of u.items) progress.push({ ...item, ownerId });
      }
      if (owners.size < new Set([...updates.values()].map((u) => u.taskId)).size) this.ignored(conn, 'progress');
    }
    const logs: Array<LogChunk & { ownerId: string }> = [];
    if (payload.logs.length > 0) {
      const chunks = storableChunks(payload.logs);
      // what tasks printed, and the agent's lines about them (every task has some: a cheaper statement, see appendAgentLines)
      const printed = chunks.filter((c) => c.stream !== 'agent');
      const said = printed.length < chunks.length ? chunks.filter((c) => c.stream === 'agent') : [];
      const max = this.config.FX_MAX_TASK_LOG_BYTES;
      if (printed.length > 0) logs.push(...(await this.live.appendLogs(conn.endpointId, conn.id, printed, max)));
      if (said.length > 0) {
        logs.push(...(await this.live.appendAgentLines(conn.endpointId, conn.id, said, max)));
        // watchers take each task's chunks in seq order (an earlier seq after a later one reads as a repeat)
        if (printed.length > 0) logs.sort((a, b) => (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : a.attempt - b.attempt || a.seq - b.seq));
      }
    }
    // Not awaited: the broker keeps this replica's publishes in order, so these still go out before the
    // results of a frame handled after this one; the frame chain need not wait for the round trip.
    if (progress.length > 0 || logs.length > 0) {
      this.events.publish('live', { progress, logs }).catch((e: unknown) => this.logger.warn(`could not publish live items: ${(e as Error).message}`));
    }
  }

  /**
   * The agent's lines of a `stream` frame that holds nothing else (most do: every task has some), ready
   * to store; null for any other frame. ResultsService stores them with the results behind them.
   */
  agentLinesOnly(payload: StreamPayload): LogChunk[] | null {
    if (payload.progress.length > 0 || payload.truncated.length > 0 || payload.logs.length === 0) return null;
    return payload.logs.every((c) => c.stream === 'agent') ? storableChunks(payload.logs) : null;
  }

  /** Stores agent lines (agentLinesOnly's) that no results came with, in a statement of their own, and publishes them. */
  async storeAgentLines(conn: LeaseHolder, chunks: LogChunk[]): Promise<void> {
    this.publishLines(await this.live.appendAgentLines(conn.endpointId, conn.id, chunks, this.config.FX_MAX_TASK_LOG_BYTES));
  }

  /** Stored chunks go to their watchers (not awaited: the broker keeps this replica's publishes in order). */
  publishLines(logs: StoredChunk[]): void {
    if (logs.length === 0) return;
    this.events.publish('live', { progress: [], logs }).catch((e: unknown) => this.logger.warn(`could not publish live items: ${(e as Error).message}`));
  }

  async progress(p: Principal, taskId: string): Promise<TaskProgressResponse> {
    const head = await this.visible(p, taskId);
    return { taskId, items: head.progress ?? [], emitted: head.progress_emitted, final: isFinalStatus(head.status) };
  }

  async logs(p: Principal, taskId: string, q: ParsedTaskLogsQuery): Promise<TaskLogsResponse> {
    const head = await this.visible(p, taskId);
    const items = await this.live.logs([taskId], q.afterSeq, q.limit, { stream: q.stream, agent: q.agent || q.stream === 'agent' });
    return {
      taskId,
      items,
      nextSeq: items.length > 0 ? items[items.length - 1]!.seq : q.afterSeq,
      final: isFinalStatus(head.status) && items.length < q.limit,
      truncated: head.logs_truncated,
    };
  }

  private async visible(p: Principal, taskId: string) {
    const [head] = await this.live.heads([taskId], p.admin ? null : p.userId);
    if (!head || !(head.owner_id === p.userId || p.admin)) throw FxException.notFound('task', taskId);
    return head;
  }

  private ignored(conn: LeaseHolder, what: string): void {
    this.logger.warn({ msg: `ignored ${what} of tasks not held by this connection`, endpointId: conn.endpointId, connId: conn.id });
  }
}

/** PostgreSQL text holds no NUL: replaced, like in stored results; agents' clocks kept only when sane. */
function storableChunks(chunks: LogChunk[]): LogChunk[] {
  return chunks.map((c) => ({ ...c, text: storableJson(c.text), at: saneTime(c.at) ?? Date.now() }));
}

/** The agent bounds values too; the server does not trust it to (nor to send JSON PostgreSQL can store). */
function boundProgress(p: ProgressEvent): ProgressEvent {
  const at = saneTime(p.at) ?? Date.now();
  const text = JSON.stringify(p.value ?? null) ?? 'null';
  const bytes = Buffer.byteLength(text);
  const problem = jsonProblem(p.value, 'the value');
  const tooLarge = bytes > MAX_PROGRESS_VALUE_BYTES || problem?.includes('levels deep') === true;
  const value = tooLarge ? { $fx: 'progress-too-large', bytes } : problem ? storableJson(p.value) : (p.value ?? null);
  return { taskId: p.taskId, attempt: p.attempt, seq: p.seq, at, value, ...(p.coalesced ? { coalesced: p.coalesced } : {}) };
}
