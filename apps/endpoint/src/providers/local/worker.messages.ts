import type { TaskOutput } from '@fx/protocol';
import type { JsInvocation, JsOutcome } from '../../runtimes/js/js.runtime.js';
import type { PythonInvocation } from '../../runtimes/python/python.runtime.js';
import type { LiveMessage } from '../../runtimes/js/js.live.js';
import type { MeasuredUsage } from '../../runtimes/usage.meter.js';

/** What a worker of any kind is asked to run. */
export type WorkerInvocation = (JsInvocation & { maxResultBytes: number }) | PythonInvocation;

/**
 * A worker's outcome: the result as JSON text or an error, what the task printed (python workers), and
 * what the call used as the worker measured it (usage.meter.ts, fx_worker_usage.py).
 */
export type WorkerOutcome = JsOutcome & { output?: TaskOutput; usage?: MeasuredUsage };

/**
 * Messages between the agent (parent) and one worker process (js or python, as JSON lines
 * on a pipe). A worker may hold more than one task: it runs them one at a time.
 * `queued` marks a task sent while the worker still held another; the worker reports `started` for
 * those, so the parent knows when they begin. A worker runs the waiting task of highest `priority`
 * next, first sent first within one (priority-order.ts); the parent keeps its copy in the same order.
 */
export type ParentToWorkerMessage =
  | { type: 'run'; taskId: string; invocation: WorkerInvocation; queued?: boolean; priority?: number }
  /** Skip this task if it has not started; answered with `dropped` either way. */
  | { type: 'drop'; taskId: string }
  /** Stop this task if it is the one running (python: KeyboardInterrupt); it then reports `done`. */
  | { type: 'interrupt'; taskId: string };

export type WorkerToParentMessage =
  /** `runtime`: what the worker runs on (python: its version and executable). */
  | { type: 'ready'; runtime?: { version: string; executable: string } }
  | { type: 'started'; taskId: string }
  | { type: 'done'; taskId: string; outcome: WorkerOutcome }
  /** What the running task emitted and printed lately (throttled in the worker; js.live.ts, fx_worker_live.py). */
  | LiveMessage
  /** `skipped`: removed before it started; false when it had started (or ended) already. */
  | { type: 'dropped'; taskId: string; skipped: boolean };
