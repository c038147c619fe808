import { decideRetry, type ErrorCode, type RetryPolicy, type TaskStatus } from '@fx/protocol';

/** What becomes of a failed result: recorded as the task's final outcome, dropped, or run again. */
export type Triage = { kind: 'final' } | { kind: 'drop' } | { kind: 'retry'; delayMs: number };

/** What the triage reads of the task a failed result names (see AttemptsRepository.candidates). */
export interface TriageTask {
  status: TaskStatus;
  lease_owner: string | null;
  attempt: number;
  retries: number;
  retry: RetryPolicy | null;
  retried_since: boolean;
}

/**
 * The one decision of what a failed result does, pure. Only the attempt the task is on now, still
 * leased to the reporting connection, is retried (per its policy, see decideRetry). A result of an
 * earlier attempt is a resend or a late report: if that attempt was retried already it is dropped (it
 * was counted), and if the policy would retry it the task is running again anyway (its lease was lost
 * and it was requeued), so it is dropped too; otherwise it goes the way of every result, where the
 * first final one wins.
 */
export function triageFailure(task: TriageTask | undefined, result: { attempt: number; code: ErrorCode }, connectionId: string): Triage {
  if (!task?.retry) return { kind: 'final' };
  if (task.retried_since) return { kind: 'drop' };
  const decision = decideRetry(task.retry, task.retries, result.code);
  const current = (task.status === 'dispatched' || task.status === 'running') && task.lease_owner === connectionId && task.attempt === result.attempt;
  if (current) return decision.retry ? { kind: 'retry', delayMs: decision.delayMs } : { kind: 'final' };
  return decision.retry ? { kind: 'drop' } : { kind: 'final' };
}
