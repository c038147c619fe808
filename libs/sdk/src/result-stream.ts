import type { TaskOutcome } from '@fx/protocol';
import { TaskCancelledError, TaskFailedError, TimeoutError, type FxError } from './errors.js';
import { FifoQueue } from './fifo-queue.js';
import type { ResultChannel } from './result-channel.js';
import type { WaitOptions } from './wait-for.js';
import { Wakeup } from './wakeup.js';

/** How far a set of tasks has got. */
export interface Progress {
  /** Tasks that finished, whatever the outcome (success, failed or cancelled). */
  done: number;
  /** Of those, the ones that did not succeed (failed or cancelled). */
  failed: number;
  /** Distinct tasks watched. */
  total: number;
}

export interface StreamOptions extends WaitOptions {
  /** Called once at the start (done 0), then each time an outcome arrives. */
  onProgress?: ((progress: Progress) => void) | undefined;
}

/**
 * Yields each task's final outcome as it arrives (not in input order), each distinct id once, however
 * often the server repeats it. `timeoutMs` bounds the whole stream. Outcomes that already arrived
 * are yielded before a timeout, abort or failure is thrown. Breaking out of the loop stops the
 * subscription for the ids still outstanding.
 */
export async function* streamResults(
  channel: ResultChannel,
  taskIds: Iterable<string>,
  options: StreamOptions = {},
): AsyncGenerator<TaskOutcome, void, undefined> {
  const { timeoutMs, signal, onProgress } = options;
  const outstanding = new Set(taskIds);
  const progress: Progress = { done: 0, failed: 0, total: outstanding.size };
  onProgress?.({ ...progress });
  if (outstanding.size === 0) return;
  if (signal?.aborted) throw signal.reason;

  const queue = new FifoQueue<TaskOutcome>();
  let failure: { error: unknown } | undefined;
  const wakeup = new Wakeup();
  const fail = (error: unknown) => {
    failure ??= { error };
    wakeup.notify();
  };

  const detach = channel.watch([...outstanding], {
    outcome(o) {
      if (!outstanding.delete(o.taskId)) return;
      queue.push(o);
      progress.done++;
      if (o.status !== 'success') progress.failed++;
      if (onProgress) {
        // The callback runs inside the channel's delivery loop: its error ends this stream, nothing else.
        try {
          onProgress({ ...progress });
        } catch (error) {
          fail(error);
        }
      }
      wakeup.notify();
    },
    fail(error: FxError) {
      fail(error);
    },
  });
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => fail(new TimeoutError(`${outstanding.size} of the awaited tasks did not finish within ${timeoutMs} ms`)), timeoutMs);
  const onAbort = () => fail(signal!.reason);
  signal?.addEventListener('abort', onAbort, { once: true });

  try {
    for (;;) {
      const next = queue.shift();
      if (next) {
        yield next;
        continue;
      }
      if (failure) throw failure.error;
      if (outstanding.size === 0) return;
      await wakeup.wait();
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    detach();
  }
}

/**
 * Every task's value in the order of `taskIds` (an id given twice fills both places); the first failure throws and ends the wait.
 * `valueOf` reads an outcome's value (fetching a result stored as an object).
 */
export async function collectResults<T>(
  channel: ResultChannel,
  taskIds: readonly string[],
  options: StreamOptions = {},
  valueOf: (outcome: TaskOutcome) => T | Promise<T> = outcomeValue,
): Promise<T[]> {
  const positions = new Map<string, number[]>();
  taskIds.forEach((id, i) => {
    const list = positions.get(id);
    if (list) list.push(i);
    else positions.set(id, [i]);
  });
  const values = new Array<T>(taskIds.length);
  for await (const outcome of streamResults(channel, positions.keys(), options)) {
    const value = await valueOf(outcome);
    for (const i of positions.get(outcome.taskId) ?? []) values[i] = value;
  }
  return values;
}

/** Reports result progress of tasks in the background, for as long as the channel delivers (runBatch's onProgress). */
export function watchProgress(channel: ResultChannel, taskIds: readonly string[], onProgress: (progress: Progress) => void): void {
  const stream = streamResults(channel, taskIds, { onProgress });
  void (async () => {
    try {
      for await (const _ of stream) {
        // Progress is reported by the stream as outcomes arrive; the outcomes themselves are the caller's to fetch.
      }
    } catch {
      // The client was closed, or a task vanished: there is no one to report to but the callback, which stops.
    }
  })();
}

/** A final outcome as a value or the matching error. */
export function outcomeValue<T>(outcome: TaskOutcome): T {
  switch (outcome.status) {
    case 'success':
      return outcome.result as T;
    case 'failed':
      throw new TaskFailedError(outcome.taskId, outcome.error, outcome.output);
    case 'cancelled':
      throw new TaskCancelledError(outcome.taskId);
  }
}
