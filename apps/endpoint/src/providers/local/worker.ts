/**
 * Entry point of one js worker process, forked by WorkerPool. Runs one task at a time; the parent stops
 * a task (walltime, cancel) by killing this process and starting another.
 */
import { JsRuntime } from '../../runtimes/js/js.runtime.js';
import type { ParentToWorkerMessage, WorkerToParentMessage } from './worker.messages.js';

if (typeof process.send !== 'function') {
  process.stderr.write('this is an fx-endpoint worker; it is started by the agent over IPC, not by hand\n');
  process.exit(2);
}

// The agent may have gone (stop, crash) by the time a result is ready: nothing to report to then.
const send = (message: WorkerToParentMessage) => {
  if (process.connected) process.send?.(message, undefined, {}, () => undefined);
};
const runtime = new JsRuntime();

// When the agent goes away (even by SIGKILL) the IPC channel closes: stop rather than work for nobody.
process.on('disconnect', () => process.exit(0));

// A promise user code forgot about must not take the worker (and the task running next) down with it.
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`fx-endpoint worker ${process.pid}: unhandled rejection in user code: ${reason instanceof Error ? reason.stack : String(reason)}\n`);
});

process.on('message', (message: ParentToWorkerMessage) => {
  if (message?.type !== 'run') return;
  void runtime.run(message.invocation).then((outcome) => send({ type: 'done', taskId: message.taskId, outcome }));
});

send({ type: 'ready' });
