/**
 * How the agent keys a run, a queued task and an unacknowledged result: a speculative copy (issue 16)
 * is a second run of the same task id, kept apart from its original everywhere.
 */
export function runKey(taskId: string, copy?: boolean): string {
  return copy ? `${taskId}/copy` : taskId;
}
