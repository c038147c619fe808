import { z } from 'zod';
import type { TaskSpec } from '@fx/protocol';

const Limit = (fallback: { default: number; max: number }, most: number) =>
  z
    .object({ default: z.number().positive().max(most).default(fallback.default), max: z.number().positive().max(most).default(fallback.max) })
    .strict()
    .refine((l) => l.default <= l.max, { message: 'default must be at most max' })
    .default(fallback);

export const DEFAULT_TASK_LIMITS = { walltimeSeconds: { default: 3600, max: 86_400 }, memoryMB: { default: 2048, max: 16_384 } } as const;

/**
 * config.yaml's `taskLimits:`, applied to every task the endpoint runs: a task with no walltime gets the
 * default, and none runs longer than the max whatever it asks; memory is watched for js, shell and mpi tasks.
 */
export const TaskLimitsConfig = z
  .object({
    walltimeSeconds: Limit(DEFAULT_TASK_LIMITS.walltimeSeconds, 30 * 24 * 3600),
    memoryMB: Limit(DEFAULT_TASK_LIMITS.memoryMB, 16 * 1024 * 1024),
  })
  .strict();
export type TaskLimits = z.infer<typeof TaskLimitsConfig>;

/** The walltime a task runs under: its own request (or its function's), else the default, never above the max. */
export function taskWalltimeSeconds(task: TaskSpec, limits: TaskLimits = DEFAULT_TASK_LIMITS): number {
  const asked = task.resources?.walltimeSeconds ?? task.function.walltimeSeconds ?? limits.walltimeSeconds.default;
  return Math.min(asked, limits.walltimeSeconds.max);
}

/** The memory a task's processes may use, in bytes (tasks cannot ask for more than the endpoint's default yet). */
export function taskMemoryBytes(limits: TaskLimits = DEFAULT_TASK_LIMITS): number {
  return Math.min(limits.memoryMB.default, limits.memoryMB.max) * 1024 * 1024;
}
