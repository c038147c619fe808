import { z } from 'zod';
import { AttemptUsage } from './usage.js';
import { ErrorCode, RemoteError, TaskStatus, Uuid } from './common.js';

/** Most attempts a retry policy may ask for (the first one included). */
export const MAX_RETRY_ATTEMPTS = 10;
/** Longest backoff between two attempts, in seconds. */
export const MAX_RETRY_BACKOFF_SECONDS = 3600;

/**
 * The failure codes a retry policy may name: failures of one execution, which another may not repeat.
 * Codes that would fail every attempt alike (a refused function, a hash mismatch, a dependency, a
 * result too large) or that are not failures of an execution (a cancel, lost leases past
 * FX_MAX_ATTEMPTS) are refused in a policy.
 */
export const RETRYABLE_CODES = ['TASK_ERROR', 'NON_ZERO_EXIT', 'WORKER_LOST', 'WALLTIME_EXCEEDED', 'MEMORY_EXCEEDED'] as const satisfies readonly ErrorCode[];
export type RetryableCode = (typeof RETRYABLE_CODES)[number];

const RetryCode = ErrorCode.refine((code): code is RetryableCode => (RETRYABLE_CODES as readonly string[]).includes(code), {
  message: `a retry policy retries only on ${RETRYABLE_CODES.join(', ')}`,
});

/**
 * How a task is run again after a failed attempt: an attempt that fails with a code in `on`, while
 * fewer than `maxAttempts` attempts have failed so, is run again `backoffSeconds` after it ended;
 * only the last attempt's failure is final. Separate from the requeues after a lost lease (the
 * server's FX_MAX_ATTEMPTS), which never count here.
 */
export const RetryPolicy = z
  .object({
    /** Attempts in all, the first included: 1 means no retry. */
    maxAttempts: z.number().int().min(1).max(MAX_RETRY_ATTEMPTS),
    /** Seconds between a failed attempt's end and the next attempt's queueing. @default 0 */
    backoffSeconds: z.number().min(0).max(MAX_RETRY_BACKOFF_SECONDS).default(0),
    /** The failure codes that are retried. @default every retryable code */
    on: z
      .array(RetryCode)
      .min(1)
      .max(RETRYABLE_CODES.length)
      .default([...RETRYABLE_CODES]),
  })
  .strict();
export type RetryPolicy = z.infer<typeof RetryPolicy>;
export type RetryPolicyInput = z.input<typeof RetryPolicy>;

export type RetryDecision = { retry: false } | { retry: true; delayMs: number };

/**
 * Whether a failed attempt is run again: `failedBefore` attempts of this task failed and were retried
 * already. Pure, so the server's one decision is tested alone.
 */
export function decideRetry(policy: RetryPolicy | null | undefined, failedBefore: number, code: ErrorCode): RetryDecision {
  if (!policy || !(policy.on as readonly string[]).includes(code)) return { retry: false };
  if (failedBefore + 1 >= policy.maxAttempts) return { retry: false };
  return { retry: true, delayMs: Math.round(policy.backoffSeconds * 1000) };
}

/**
 * One attempt of a task: where it ran and when, and how it ended. `lost`: its lease ended without a
 * result (the agent went away, a block ended) and the task was queued again; `retried`: it failed with
 * a code of the retry policy and the task was run again. The task's current (or final) attempt is the
 * last one, with the task's own status.
 */
export const TaskAttempt = z.object({
  /** 1 for the first attempt. */
  number: z.number().int().min(1),
  /** `superseded`: it was still running when its speculative copy's result won (and it was cancelled). */
  status: z.union([TaskStatus, z.enum(['lost', 'retried', 'superseded'])]),
  /** A speculative copy, run alongside the attempt of the same number (issue 16). */
  speculative: z.boolean().default(false),
  endpointId: Uuid,
  /** The agent connection that held the task's lease. */
  connectionId: z.string().nullable(),
  /** The worker that ran it, as the agent names it (on Slurm: block/node/worker). */
  workerId: z.string().nullable(),
  /** The Slurm block it ran in, when it ran in one. */
  blockId: z.string().nullable(),
  queuedAt: z.string().nullable(),
  dispatchedAt: z.string().nullable(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  error: RemoteError.nullable(),
  /** `retried` attempts: when the next attempt was due to be queued. */
  retryAt: z.string().nullable(),
  /** What it held and used, when its agent reported a result for it (usage.ts). */
  usage: AttemptUsage.nullable().default(null),
});
export type TaskAttempt = z.infer<typeof TaskAttempt>;

/** Most attempts GET /v1/tasks/:id returns (the latest ones). */
export const MAX_ATTEMPTS_SHOWN = 100;

/** The block of a worker id as a Slurm endpoint names its workers (`block/node/wN`); null otherwise. */
export function blockOfWorker(workerId: string | null | undefined): string | null {
  const m = workerId ? /^(b\d+-[0-9a-f]+)\/[^/]+\/w\d+$/.exec(workerId) : null;
  return m ? m[1]! : null;
}
