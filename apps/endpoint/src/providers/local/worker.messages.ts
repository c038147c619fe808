import type { JsInvocation, JsOutcome } from '../../runtimes/js/js.runtime.js';

/**
 * IPC between the agent (parent) and one js worker process. A worker may hold more than one task: it
 * runs them one at a time in the order sent. `queued` marks a task sent while the worker still held
 * another; the worker reports `started` for those, so the parent knows when they begin.
 */
export type ParentToWorkerMessage =
  | { type: 'run'; taskId: string; invocation: Required<JsInvocation>; queued?: boolean }
  /** Skip this task if it has not started; answered with `dropped` either way. */
  | { type: 'drop'; taskId: string };

export type WorkerToParentMessage =
  | { type: 'ready' }
  | { type: 'started'; taskId: string }
  | { type: 'done'; taskId: string; outcome: JsOutcome }
  /** `skipped`: removed before it started; false when it had started (or ended) already. */
  | { type: 'dropped'; taskId: string; skipped: boolean };
