import type { AttemptUsage, TaskSpec } from '@fx/protocol';
import type { HeldResources } from '../runtimes/task.errors.js';
import type { MeasuredUsage } from '../runtimes/usage.meter.js';

/**
 * How much longer than the agent saw a call a worker's figure may be: the agent learns of a queued task's
 * start from the worker's `started` message, a little after it began.
 */
export const WALL_SLACK_MS = 1000;

/** What the agent knows of one run of a task when it reports it. */
export interface RunAccount {
  /** When the run began on its worker and when its outcome came back (the agent's clock, ms); absent: it never started. */
  ran?: { startedAt: number; finishedAt: number } | undefined;
  /** The worker's measure of the call (usage.meter.ts, fx_worker_usage.py), when it reported one. */
  measured?: MeasuredUsage | undefined;
  /** What its worker held, as the provider knows it; absent: a local worker (1 core, no GPU). */
  held?: HeldResources | undefined;
}

/**
 * The usage a result carries (AttemptUsage, libs/protocol/src/usage.ts), or undefined for a task that
 * never started (refused, cancelled while queued): it held nothing. Cores and GPUs are what the task
 * asked for, or else what its worker holds. Wall time is the worker's measure, never more than the agent
 * saw of the run (plus WALL_SLACK_MS): the worker runs the task's code. A run whose worker reported
 * nothing (killed at its walltime, lost, over its memory) counts the agent's view of it, with no CPU or
 * memory figure rather than a made-up one.
 */
export function attemptUsage(task: Pick<TaskSpec, 'resources'>, account: RunAccount): AttemptUsage | undefined {
  const { ran, measured, held } = account;
  if (!ran && !measured) return undefined;
  const seen = ran ? Math.max(0, Math.round(ran.finishedAt - ran.startedAt)) : undefined;
  const wallMs = measured === undefined ? (seen as number) : seen === undefined ? measured.wallMs : Math.min(measured.wallMs, seen + WALL_SLACK_MS);
  return {
    wallMs,
    cores: task.resources?.cores ?? held?.cores ?? 1,
    gpus: task.resources?.gpus ?? held?.gpus ?? 0,
    cpuMs: measured?.cpuMs ?? null,
    maxRssBytes: measured?.maxRssBytes ?? null,
    ...(held?.blockId !== undefined ? { blockId: held.blockId } : {}),
  };
}
