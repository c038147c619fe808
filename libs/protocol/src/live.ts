import { z } from 'zod';
import { DEFAULT_LIMITS, Uuid, queryFlag } from './common.js';

/**
 * Live streams from running tasks (issue 16): partial results ("progress") and what a task prints
 * ("logs"), delivered while it runs.
 *
 * Path: the function emits (js `ctx.emit(value)`, python `fx_sdk.emit(value)`, a shell line that starts
 * with the function's `progressPrefix`) or prints → its worker throttles → the agent coalesces per task
 * and sends `stream` frames (at most one per FLUSH interval) → the server checks each item's task is
 * leased to that connection, keeps the last KEPT_PROGRESS progress values on the task and the logs up to
 * a per-task bound, and relays to the sockets that `watch` the task → SDKs yield in `seq` order.
 *
 * Coalescing: when a task emits faster than a flush, only the latest value of that flush travels, with
 * `coalesced` saying how many earlier ones it replaced, so `seq` stays the emit count and consumers see
 * gaps, never reordering. Logs are never coalesced, only bounded (see `truncated`).
 */

/** Largest progress value, as JSON; a larger one is replaced by `{ $fx: 'progress-too-large', bytes }`. */
export const MAX_PROGRESS_VALUE_BYTES = 16 * 1024;
/** Largest log chunk of one stream item (the agent splits longer text). */
export const MAX_LOG_CHUNK_CHARS = 64 * 1024;
/** Most items in one `stream` frame. */
export const MAX_STREAM_ITEMS = 1_000;
/** Progress values the server keeps with each task (the latest ones). */
export const KEPT_PROGRESS = 16;
/** Longest shell progress prefix. */
export const MAX_PROGRESS_PREFIX_CHARS = 64;

/**
 * `agent`: the endpoint agent's own log lines about the task (received, placed on a worker, finished,
 * requeued…), so its side shows without shell access to the endpoint. Clients get them only when they
 * ask (`agent` on the logs query and on `watch`).
 */
export const LogStream = z.enum(['stdout', 'stderr', 'agent']);
export type LogStream = z.infer<typeof LogStream>;

/** One progress emit as it travels and as SDKs yield it. */
export const ProgressEvent = z.object({
  taskId: Uuid,
  attempt: z.number().int().min(0),
  /** 1-based count of emits of this attempt; increases strictly, with gaps where values were coalesced. */
  seq: z.number().int().min(1),
  /** When the function emitted it (epoch ms, the agent's clock). */
  at: z.number(),
  value: z.unknown(),
  /** How many earlier emits this one replaced (absent: none). */
  coalesced: z.number().int().min(1).optional(),
});
export type ProgressEvent = z.infer<typeof ProgressEvent>;

/** A piece of what a running task printed, in the order printed. */
export const LogChunk = z.object({
  taskId: Uuid,
  attempt: z.number().int().min(0),
  stream: LogStream,
  /** 1-based, per task attempt across its streams (the agent's lines included): ordering of chunks as printed. */
  seq: z.number().int().min(1),
  at: z.number(),
  text: z.string().max(MAX_LOG_CHUNK_CHARS),
});
export type LogChunk = z.infer<typeof LogChunk>;

/** Agent → server `stream`: progress and log chunks of tasks leased to this connection. */
export const StreamPayload = z.object({
  progress: z.array(ProgressEvent).max(MAX_STREAM_ITEMS).default([]),
  logs: z.array(LogChunk).max(MAX_STREAM_ITEMS).default([]),
  /**
   * Tasks whose log text went past the agent's per-task bound: later text was dropped, and this many
   * characters with it (cumulative for the attempt).
   */
  truncated: z
    .array(z.object({ taskId: Uuid, attempt: z.number().int().min(0), droppedChars: z.number().int().min(1) }))
    .max(MAX_STREAM_ITEMS)
    .default([]),
});
export type StreamPayload = z.infer<typeof StreamPayload>;

/**
 * Client → server `watch`: push these tasks' progress and/or logs as they come. The server first sends
 * what it keeps (the last KEPT_PROGRESS progress values; the stored log chunks after `logsAfterSeq`),
 * then live items, then `watch-ended` once the task is final. Other users' tasks are `notFound`.
 */
export const WatchPayload = z.object({
  taskIds: z.array(Uuid).min(1).max(DEFAULT_LIMITS.maxIdsPerRequest),
  progress: z.boolean().default(true),
  logs: z.boolean().default(false),
  /** Catch-up of logs starts after this seq (a client that reconnects passes the last it saw). */
  logsAfterSeq: z.number().int().min(0).default(0),
  /** Include the agent's lines about the task (LogStream `agent`) in `logs`. */
  agentLogs: z.boolean().default(false),
});
export type WatchPayload = z.input<typeof WatchPayload>;

export const UnwatchPayload = z.object({ taskIds: z.array(Uuid).min(1).max(DEFAULT_LIMITS.maxIdsPerRequest) });
export type UnwatchPayload = z.infer<typeof UnwatchPayload>;

/** Server → client `watching`: the answer to `watch`. */
export const WatchingPayload = z.object({ notFound: z.array(Uuid).default([]) });
export type WatchingPayload = z.infer<typeof WatchingPayload>;

export const ProgressFrame = z.object({ items: z.array(ProgressEvent).min(1) });
export type ProgressFrame = z.infer<typeof ProgressFrame>;

export const LogsFrame = z.object({ items: z.array(LogChunk).min(1) });
export type LogsFrame = z.infer<typeof LogsFrame>;

/** Server → client `watch-ended`: these tasks are final; nothing more will stream for them. */
export const WatchEndedPayload = z.object({
  tasks: z.array(z.object({ taskId: Uuid, status: z.enum(['success', 'failed', 'cancelled']) })).min(1),
});
export type WatchEndedPayload = z.infer<typeof WatchEndedPayload>;

/** The start of both reads of a task's stored streams (progress, logs): the task, and its items oldest first. */
const storedItems = <I extends z.ZodType>(item: I) => ({ taskId: Uuid, items: z.array(item) });

/** `GET /v1/tasks/:id/progress`: the kept progress values, oldest first, and how many were emitted in all. */
export const TaskProgressResponse = z.object({
  ...storedItems(ProgressEvent),
  /** The highest seq seen (emits of the current attempt, coalesced ones included). */
  emitted: z.number().int().min(0),
  final: z.boolean(),
});
export type TaskProgressResponse = z.infer<typeof TaskProgressResponse>;

/** `GET /v1/tasks/:id/logs`: stored chunks after `afterSeq`, oldest first. */
export const TaskLogsQuery = z
  .object({
    afterSeq: z.coerce.number().int().min(0).default(0),
    limit: z.coerce.number().int().min(1).max(10_000).default(1_000),
    stream: LogStream.optional(),
    /** Include the agent's lines (stream `agent`); a `stream=agent` query includes them too. */
    agent: queryFlag(false),
  })
  .strict();
export type TaskLogsQuery = z.input<typeof TaskLogsQuery>;

export const TaskLogsResponse = z.object({
  ...storedItems(LogChunk),
  /** Pass as `afterSeq` for the next page (or to follow by polling); equals afterSeq when nothing came. */
  nextSeq: z.number().int().min(0),
  /** The task is final and every stored chunk was returned: nothing more will come. */
  final: z.boolean(),
  /** Text was dropped past the per-task bound (agent's or server's). */
  truncated: z.boolean(),
});
export type TaskLogsResponse = z.infer<typeof TaskLogsResponse>;
