import { blockOfWorker, type TaskAttempt, type TaskInfo } from '@fx/protocol';
import { iso } from '../../common/iso.js';
import type { AttemptRow } from '../retries/attempts.repository.js';
import type { TaskRow } from './tasks.repository.js';
import { visibleCachedFrom, type CachedSource, type CachedSourceViewer } from './cached-source.js';
import { toAttemptUsage, type StoredUsage } from '../accounting/usage-records.repository.js';

/**
 * A task as GET /v1/tasks/:id shows it. Its attempts are the archived ones (lost or retried) and the
 * task row's own, which is the current (or final) attempt once the task was first dispatched; each
 * with the usage its agent reported for it (`usage`, keyed by attempt number and speculative), as
 * `viewer` may see it.
 */
export function toTaskInfo(t: TaskRow & CachedSource, viewer: CachedSourceViewer, archived: AttemptRow[] = [], usage: StoredUsage[] = []): TaskInfo {
  const usageOf = new Map(usage.map((u) => [`${u.attempt}/${u.speculative}`, toAttemptUsage(u)]));
  const withUsage = (a: TaskAttempt): TaskAttempt => ({ ...a, usage: usageOf.get(`${a.number}/${a.speculative}`) ?? null });
  return {
    id: t.id,
    functionId: t.function_id,
    endpointId: t.endpoint_id,
    batchId: t.batch_id,
    endpointGroupId: t.endpoint_group_id,
    ownerId: t.owner_id,
    status: t.status,
    attempt: t.attempt,
    priority: t.priority,
    args: t.args,
    kwargs: t.kwargs,
    serializer: t.serializer,
    ...(t.pickled_args ? { pickledArgs: t.pickled_args } : {}),
    ...(t.status === 'success' ? (t.result_ref ? { resultRef: t.result_ref } : { result: t.result ?? null }) : {}),
    error: t.error ?? null,
    ...(t.output ? { output: t.output } : {}),
    ...(t.progress?.length && t.progress_attempt === t.attempt ? { progress: { latest: t.progress.at(-1)!, emitted: t.progress_emitted } } : {}),
    cached: t.cached_from !== null,
    // another user's task (a shareable cache's entry) only to whom may read it: cached-source.ts
    cachedFrom: visibleCachedFrom(t, viewer),
    timeline: {
      receivedAt: iso(t.received_at)!,
      readyAt: iso(t.ready_at),
      waitingAt: iso(t.waiting_at),
      dispatchedAt: iso(t.dispatched_at),
      runningAt: iso(t.running_at),
      completedAt: iso(t.completed_at),
      retryAt: t.status === 'waiting-for-retry' ? iso(t.retry_at) : null,
    },
    retry: t.retry ?? null,
    // by number; a speculative copy next to the attempt it ran alongside
    attempts: [...archived.map(toAttempt), ...currentAttempt(t, archived.length > 0)]
      .map(withUsage)
      .sort((a, b) => a.number - b.number || Number(a.speculative) - Number(b.speculative)),
  };
}

/** What an archived attempt (or a running copy) may say of itself. */
const ARCHIVED_STATUSES = new Set(['lost', 'retried', 'superseded', 'cancelled', 'failed', 'waiting-for-endpoint', 'dispatched', 'running']);

function toAttempt(a: AttemptRow): TaskAttempt {
  return {
    number: a.number,
    status: ARCHIVED_STATUSES.has(a.status) ? (a.status as TaskAttempt['status']) : 'lost',
    speculative: a.speculative,
    endpointId: a.endpoint_id,
    connectionId: a.connection_id,
    workerId: a.worker_id,
    blockId: blockOfWorker(a.worker_id),
    queuedAt: iso(a.queued_at),
    dispatchedAt: iso(a.dispatched_at),
    startedAt: iso(a.started_at),
    endedAt: iso(a.ended_at),
    error: a.error,
    retryAt: iso(a.retry_at),
    usage: null,
  };
}

/** The task row's attempt: none before the first dispatch (a task cancelled or failed while it waited ran nowhere). */
function currentAttempt(t: TaskRow, hadAttempts: boolean): TaskAttempt[] {
  if (!hadAttempts && t.dispatched_at === null && t.running_at === null) return [];
  const workerId = t.timings?.workerId ?? null;
  return [
    {
      // a task failed MAX_ATTEMPTS_EXCEEDED counted its last lost lease already
      number: t.error?.code === 'MAX_ATTEMPTS_EXCEEDED' ? t.attempt : t.attempt + 1,
      status: t.status,
      // a speculative copy's result won: the row holds the copy's attempt
      speculative: t.timings?.speculative === true,
      // the copy ran elsewhere than the endpoint the task stays placed on
      endpointId: (t.timings?.speculative === true && t.timings.endpointId) || t.endpoint_id,
      connectionId: t.lease_owner ?? t.timings?.connectionId ?? null,
      workerId,
      blockId: blockOfWorker(workerId),
      queuedAt: iso(t.waiting_at),
      dispatchedAt: iso(t.dispatched_at),
      startedAt: iso(t.running_at),
      endedAt: iso(t.completed_at),
      error: t.error ?? null,
      retryAt: t.status === 'waiting-for-retry' ? iso(t.retry_at) : null,
      usage: null,
    },
  ];
}
