import type { TaskSpec } from '@fx/protocol';

/**
 * What a js worker process is bound to: the task's owner (whose arguments and results pass through it)
 * and the function's author (whose code may leave state behind: patched built-ins, timers, globals). A
 * worker never runs a task of another pair, so neither another user's code nor another user's
 * arguments are ever in the process a task runs in. Absent ids (an older server) count as one "unknown".
 */
export function isolationKey(task: Pick<TaskSpec, 'ownerId' | 'function'>): string {
  return `${task.ownerId ?? 'unknown'}/${task.function.ownerId ?? 'unknown'}`;
}
