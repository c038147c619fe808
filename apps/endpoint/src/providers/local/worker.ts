/**
 * Entry point of one js worker process, forked by WorkerPool. Runs one task at a time, the waiting one of
 * highest priority next (first sent first within one, as the parent expects: worker.messages.ts); the parent stops a running task (walltime, cancel) by killing this process and
 * starting another, and withdraws a task that has not started with `drop`.
 */
import { join } from 'node:path';
import { boundRemoteError } from '@fx/protocol';
import { JsRuntime } from '../../runtimes/js/js.runtime.js';
import type { ParentToWorkerMessage, WorkerToParentMessage } from './worker.messages.js';
import { ParentChannel } from './worker.channel.js';
import { insertByPriority, priorityOf } from '../../agent/priority-order.js';
import { resultFileName } from './worker.outcome.js';
import { TaskOutputs } from '../../runtimes/js/js.outputs.js';
import { WorkerLive } from '../../runtimes/js/js.live.js';
import { UsageMeter } from '../../runtimes/usage.meter.js';

// When the agent goes away (even by SIGKILL) the link closes: stop rather than work for nobody.
const channel = ParentChannel.open(receive, () => process.exit(0));
if (!channel) {
  process.stderr.write('this is an fx-endpoint worker; it is started by the agent with its link on fd 3, not by hand\n');
  process.exit(2);
}

// A finished task's `done` while another task waits: it goes with that task's `started` (next), one
// write and one wake-up of the agent instead of two. Held for one turn at most: anything sent flushes it.
let heldDone: WorkerToParentMessage | undefined;
/**
 * Sends `message`, after the held `done` if there is one. `written` is called once the bytes are in the
 * channel when a `done` went with them, and at once otherwise: the next task starts only then, since its
 * code may end this process (process.exit, a crash) and what was not yet written would go with it. The
 * agent may have gone (stop, crash) by the time a result is ready: nothing to report to then.
 */
const send = (message: WorkerToParentMessage | undefined, written: () => void = () => undefined) => {
  const held = heldDone;
  heldDone = undefined;
  // no Array method here: a task may have replaced them (worker.channel.ts)
  const messages: WorkerToParentMessage[] = [];
  if (held) messages[messages.length] = held;
  if (message) messages[messages.length] = message;
  if (messages.length === 0 || !channel.connected) return written();
  if (!held) written();
  channel.send(messages, held ? written : undefined);
};
const runtime = new JsRuntime();
// ctx.emit and what the running task prints, throttled (js.live.ts)
const live = new WorkerLive(send);
// what each call uses: this process runs one task at a time, so its figures during a call are the task's
const meter = new UsageMeter();
// The worker's own directory (its cwd at start; user code may chdir): results too large for the link go there.
const RESULT_DIR = process.cwd();
// `ctx` of the task running now (ctx.output writes named outputs); undefined between tasks.
Object.defineProperty(globalThis, 'ctx', { get: () => runtime.context, enumerable: false });
const queue: Array<Extract<ParentToWorkerMessage, { type: 'run' }>> = [];
let busy = false;

// A promise user code forgot about must not take the worker (and the task running next) down with it.
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`fx-endpoint worker ${process.pid}: unhandled rejection in user code: ${reason instanceof Error ? reason.stack : String(reason)}\n`);
});

function next(): void {
  if (busy) return;
  const task = queue.shift();
  if (!task) return send(undefined);
  busy = true;
  send(task.queued ? { type: 'started', taskId: task.taskId } : undefined, () => run(task));
}

function run(task: Extract<ParentToWorkerMessage, { type: 'run' }>): void {
  const files = {
    resultPath: join(RESULT_DIR, resultFileName(task.taskId)),
    outputs: new TaskOutputs(RESULT_DIR, task.taskId, task.invocation.maxResultBytes ?? 0),
    emit: (value: unknown) => live.emit(value),
  };
  live.begin(task.taskId);
  const measured = meter.start();
  void runtime.run(task.invocation, undefined, files).then((outcome) => {
    const usage = measured();
    // what it emitted and printed goes first: the agent sends a task's live items before its result
    live.end();
    // an error is the task's to make as large as it likes: cut here, so that its message stays within
    // what the link takes (one line of at most a frame's worth) and the worker lives on
    const reported = outcome.ok ? outcome : { ...outcome, error: boundRemoteError(outcome.error) };
    const done: WorkerToParentMessage = { type: 'done', taskId: task.taskId, outcome: { ...reported, usage } };
    busy = false;
    // On the next turn, not now: a `drop` already on the channel is read before the next task starts.
    if (queue.length > 0) {
      heldDone = done;
      setImmediate(next);
    } else {
      send(done);
    }
  });
}

function receive(message: ParentToWorkerMessage): void {
  if (message?.type === 'run') {
    insertByPriority(queue, message, priorityOf);
    next();
  } else if (message?.type === 'drop') {
    const index = queue.findIndex((t) => t.taskId === message.taskId);
    if (index >= 0) queue.splice(index, 1);
    send({ type: 'dropped', taskId: message.taskId, skipped: index >= 0 });
  }
}

send({ type: 'ready' });
