import { z } from 'zod';
import { Uuid } from './common.js';

/**
 * Accounting (issue 17): what every attempt held and used, and what pilot blocks cost.
 *
 * Path: the worker that ran an attempt measures it (wall time always; CPU time and peak memory where the
 * runtime can: js and python workers measure their own process around the call) → the agent adds what
 * the attempt held (cores and GPUs: the task's request, or the worker's own) and sends it as
 * `TaskResult.usage` → the server records one usage row per attempt in the results' group commit, kept
 * apart from the task row so accounting outlives the task's retention.
 *
 * Blocks: a Slurm endpoint reports each block's node-seconds split into busy (at least one task running
 * on the block) and idle in its heartbeat (`HeartbeatPayload.blocks`), live blocks and the ones that
 * ended recently, so a lost heartbeat loses nothing: the server upserts by (endpoint, block).
 * For every block, busyMs + idleMs = (endedAt ?? now) − startedAt, and node-ms = nodes × that.
 */

/** What one attempt held and used, as the agent measured it. */
export const AttemptUsage = z.object({
  /** Start of the call to its end, on the worker. */
  wallMs: z.number().int().min(0),
  /** Cores it held: the task's `resources.cores`, or the worker's (1 for a local worker). */
  cores: z.number().int().min(0).max(100_000),
  /** GPUs it held: the task's `resources.gpus`, or the devices pinned to its worker. */
  gpus: z.number().int().min(0).max(1024),
  /** User + system CPU time the call used; null where the runtime cannot measure it (shell). */
  cpuMs: z.number().int().min(0).nullable(),
  /** Peak resident memory of the worker process while it ran (bytes); null where not measurable. */
  maxRssBytes: z.number().int().min(0).nullable(),
  /** The Slurm block it ran in, when it ran in one. */
  blockId: z.string().max(128).optional(),
});
export type AttemptUsage = z.infer<typeof AttemptUsage>;

/** Most block reports in one heartbeat: live blocks first, then the latest ended ones. */
export const MAX_BLOCK_REPORTS = 64;

/** One pilot block as the agent accounts for it. */
export const BlockReport = z.object({
  blockId: z.string().min(1).max(128),
  /** The scheduler's job id, once submitted. */
  jobId: z.string().max(64).optional(),
  /** submitting | pending | running | cancelling | ended */
  state: z.string().max(32),
  /** Nodes the block holds (or held, once ended); node-seconds are counted from when it started running. */
  nodes: z.number().int().min(0).max(100_000),
  /** When its first node joined (epoch ms, the agent's clock); absent while pending. */
  startedAt: z.number().optional(),
  endedAt: z.number().optional(),
  /** Wall time with at least one task running on the block, and without, since startedAt. */
  busyMs: z.number().int().min(0),
  idleMs: z.number().int().min(0),
});
export type BlockReport = z.infer<typeof BlockReport>;

/** `GET /v1/usage` grouping. */
export const UsageBy = z.enum(['user', 'endpoint', 'function']);
export type UsageBy = z.infer<typeof UsageBy>;

export const UsageBucket = z.enum(['hour', 'day']);
export type UsageBucket = z.infer<typeof UsageBucket>;

/** Longest window one usage query may cover. */
export const MAX_USAGE_WINDOW_DAYS = 366;
/** Most keys (users, endpoints, functions) a usage answer lists; the rest are summed into `others`. */
export const MAX_USAGE_KEYS = 100;

/**
 * `GET /v1/usage?by=user|endpoint|function&since=…&until=…&bucket=hour|day`. A user sees their own
 * usage (by=user gives one row: theirs); an admin sees everyone's. `since` defaults to 7 days ago,
 * `until` to now; attempts count in the bucket they ended in.
 */
export const UsageQuery = z
  .object({
    by: UsageBy.default('user'),
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    bucket: UsageBucket.default('day'),
  })
  .strict();
export type UsageQuery = z.input<typeof UsageQuery>;

/** Sums over attempts. Hours are decimal (core-hours = Σ cores × wall). */
export const UsageFigures = z.object({
  attempts: z.number().int().min(0),
  tasks: z.number().int().min(0),
  wallHours: z.number(),
  coreHours: z.number(),
  gpuHours: z.number(),
  /** Σ measured CPU time; attempts without a measure add nothing (see `measuredAttempts`). */
  cpuHours: z.number(),
  measuredAttempts: z.number().int().min(0),
  /** Largest peak memory of one attempt. */
  maxRssBytes: z.number().int().min(0).nullable(),
});
export type UsageFigures = z.infer<typeof UsageFigures>;

export const UsageRow = UsageFigures.extend({
  /** The user, endpoint or function id. */
  key: z.string(),
  /** Its name, when it still exists. */
  name: z.string().nullable(),
});
export type UsageRow = z.infer<typeof UsageRow>;

export const UsagePoint = z.object({
  /** Start of the bucket (ISO). */
  at: z.string(),
  key: z.string(),
  coreHours: z.number(),
  gpuHours: z.number(),
});
export type UsagePoint = z.infer<typeof UsagePoint>;

/** Pilot blocks of the endpoints the caller may see, in the window (the part of each block inside it). */
export const BlockUsage = z.object({
  endpointId: Uuid,
  endpointName: z.string().nullable(),
  blocks: z.number().int().min(0),
  nodeHours: z.number(),
  busyNodeHours: z.number(),
  idleNodeHours: z.number(),
  /** idle / (busy + idle); null without node-hours. */
  idleShare: z.number().nullable(),
});
export type BlockUsage = z.infer<typeof BlockUsage>;

export const UsageResponse = z.object({
  by: UsageBy,
  since: z.string(),
  until: z.string(),
  bucket: UsageBucket,
  total: UsageFigures,
  /** Largest core-hours first, at most MAX_USAGE_KEYS. */
  rows: z.array(UsageRow),
  /** Sum of the rows left out (absent when none were). */
  others: UsageFigures.optional(),
  /** Core- and GPU-hours per bucket for the listed keys, oldest first. */
  series: z.array(UsagePoint),
  blocks: z.array(BlockUsage),
});
export type UsageResponse = z.infer<typeof UsageResponse>;
