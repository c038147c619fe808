import type { JsInvocation, JsOutcome } from '../../runtimes/js/js.runtime.js';

/** IPC between the agent (parent) and one js worker process. */
export type ParentToWorkerMessage = { type: 'run'; taskId: string; invocation: Required<JsInvocation> };

export type WorkerToParentMessage = { type: 'ready' } | { type: 'done'; taskId: string; outcome: JsOutcome };
