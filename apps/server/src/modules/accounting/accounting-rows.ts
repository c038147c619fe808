import type { AttemptUsage, BlockReport, TaskResult } from '@fx/protocol';
import { saneTime } from '../agents/results.service.js';

/**
 * Accounting rows as the server stores them (usage_records and endpoint_blocks, migration
 * 20261219001000_usage), from what agents report. Pure: the repositories write what these return.
 * Agents' figures are bounded rather than trusted: one absurd value must neither fail the statement
 * that records a whole frame nor swamp the sums GET /v1/usage makes.
 */

/** Longest an attempt or a block may be counted for: a year and a day. */
export const MAX_ACCOUNTED_MS = 366 * 24 * 3600 * 1000;
/** Largest peak memory taken from an agent: 1 PiB. */
export const MAX_RSS_BYTES = 2 ** 50;

/** One attempt's usage as the insert takes it (`attempt`: the agent's, 0-based; stored as TaskAttempt.number, 1-based). */
export interface UsageRow {
  task_id: string;
  attempt: number;
  copy: boolean;
  status: 'success' | 'failed';
  /** Epoch ms; null: the time of recording. */
  ended_at: number | null;
  wall_ms: number;
  cores: number;
  gpus: number;
  cpu_ms: number | null;
  max_rss_bytes: number | null;
  block_id: string | null;
}

const bound = (v: number, max: number) => Math.min(Math.max(0, Math.round(v)), max);
const boundOrNull = (v: number | null, max: number) => (v === null ? null : bound(v, max));

/** The usage rows of the results that carry usage (one per result: the insert drops repeats). */
export function usageRows(results: readonly TaskResult[]): UsageRow[] {
  return results.flatMap((r) => (r.usage ? [usageRow(r, r.usage)] : []));
}

function usageRow(r: TaskResult, u: AttemptUsage): UsageRow {
  return {
    task_id: r.taskId,
    attempt: r.attempt,
    copy: r.copy === true,
    status: r.status,
    ended_at: saneTime(r.timings.finishedAt) ?? null,
    wall_ms: bound(u.wallMs, MAX_ACCOUNTED_MS),
    cores: u.cores,
    gpus: u.gpus,
    cpu_ms: boundOrNull(u.cpuMs, MAX_ACCOUNTED_MS * 1024),
    max_rss_bytes: boundOrNull(u.maxRssBytes, MAX_RSS_BYTES),
    block_id: u.blockId ?? null,
  };
}

/** One block as the upsert takes it. */
export interface BlockRow {
  block_id: string;
  job_id: string | null;
  state: string;
  nodes: number;
  started_at: number | null;
  ended_at: number | null;
  busy_ms: number;
  idle_ms: number;
}

/**
 * The rows of a heartbeat's block reports: one per block (the last report of a block named twice), times
 * that are not sane dropped, an end before the start dropped, and busy and idle each at most a year.
 */
export function blockRows(blocks: readonly BlockReport[]): BlockRow[] {
  const byId = new Map<string, BlockRow>();
  for (const b of blocks) {
    const startedAt = saneTime(b.startedAt) ?? null;
    const endedAt = saneTime(b.endedAt) ?? null;
    byId.set(b.blockId, {
      block_id: b.blockId,
      job_id: b.jobId ?? null,
      state: b.state,
      nodes: b.nodes,
      started_at: startedAt,
      ended_at: endedAt !== null && (startedAt === null || endedAt >= startedAt) ? endedAt : null,
      busy_ms: bound(b.busyMs, MAX_ACCOUNTED_MS),
      idle_ms: bound(b.idleMs, MAX_ACCOUNTED_MS),
    });
  }
  return [...byId.values()];
}
