import type { TaskOutcome } from '@fx/protocol';

/** What the window needs of the world: how to submit a chunk, watch its tasks, and cancel the rest. */
export interface MapDriver<T> {
  /** Submits one chunk of items as tasks; resolves with their ids, in the order of the items. */
  submit(items: T[]): Promise<string[]>;
  /** Watches these ids: `outcome` once per id as each ends, `fail` if one never will. Returns a detach. */
  watch(taskIds: string[], sink: { outcome(o: TaskOutcome): void; fail(error: unknown): void }): () => void;
  /** The consumer stopped early: cancel every task of the map that has not finished. */
  cancelRest(): Promise<void>;
}

export interface MapWindowOptions {
  /** Items per submission. */
  chunkSize: number;
  /** Most tasks submitted and not yet yielded; a full window submits nothing more until the consumer takes results. */
  window: number;
  /** In the order of the items (true), or as they finish (false). */
  ordered: boolean;
  /** An async source that trickles: a chunk that has items goes out after this long even if not full. */
  lingerMs: number;
}

/** One task's outcome, with the index of the item it ran. */
export interface MapOutcome {
  index: number;
  taskId: string;
  outcome: TaskOutcome;
}

const LINGERED = Symbol('lingered');

/**
 * Runs a source of any length through a bounded window of tasks: items are taken from the source
 * only while fewer than `window` tasks are submitted and not yet yielded, and submitted a chunk at a
 * time, so neither the items nor the outcomes held ever exceed the window, however large the source.
 * When the consumer stops early (break, return, throw) or a submission fails, nothing more is taken
 * or submitted, and `cancelRest` is called once the submission in flight (if any) has landed.
 */
export async function* runMapWindow<T>(
  source: Iterable<T> | AsyncIterable<T>,
  driver: MapDriver<T>,
  options: MapWindowOptions,
): AsyncGenerator<MapOutcome, void, undefined> {
  const { ordered, lingerMs } = options;
  const window = Math.max(1, options.window);
  const chunkSize = Math.max(1, Math.min(options.chunkSize, window));
  const asyncSource = Symbol.asyncIterator in source;
  const iterator = asyncSource ? (source as AsyncIterable<T>)[Symbol.asyncIterator]() : (source as Iterable<T>)[Symbol.iterator]();

  let held = 0; // submitted (or being submitted) and not yet yielded
  let taken = 0;
  let exhausted = false;
  let stopped = false;
  let submittedAny = false;
  let failure: { error: unknown } | undefined;
  const indexOf = new Map<string, number>();
  const done = new Map<number, MapOutcome>(); // ordered: outcomes waiting for their turn
  const ready: MapOutcome[] = []; // unordered: outcomes in completion order
  let nextIndex = 0;
  const detaches: Array<() => void> = [];

  let wakeConsumer: (() => void) | undefined;
  let wakeFeeder: (() => void) | undefined;
  const wake = () => {
    for (const w of [wakeConsumer, wakeFeeder]) w?.();
    wakeConsumer = wakeFeeder = undefined;
  };
  const fail = (error: unknown) => {
    failure ??= { error };
    wake();
  };
  const sink = {
    outcome(o: TaskOutcome) {
      const index = indexOf.get(o.taskId);
      if (index === undefined) return;
      indexOf.delete(o.taskId);
      const entry = { index, taskId: o.taskId, outcome: o };
      if (ordered) done.set(index, entry);
      else ready.push(entry);
      wake();
    },
    fail,
  };

  let pendingNext: Promise<IteratorResult<T>> | undefined;
  /** Up to `max` items; an async source's partial chunk goes after `lingerMs`. */
  const take = async (max: number): Promise<T[]> => {
    const chunk: T[] = [];
    let timer: NodeJS.Timeout | undefined;
    let lingered: Promise<typeof LINGERED> | undefined;
    try {
      while (chunk.length < max && !stopped) {
        let r: IteratorResult<T> | typeof LINGERED;
        if (!asyncSource) r = (iterator as Iterator<T>).next();
        else {
          pendingNext ??= (iterator as AsyncIterator<T>).next();
          r = lingered ? await Promise.race([pendingNext, lingered]) : await pendingNext;
          if (r === LINGERED) break;
          pendingNext = undefined;
        }
        if (r.done) {
          exhausted = true;
          break;
        }
        chunk.push(r.value);
        if (asyncSource && !lingered) lingered = new Promise((resolve) => (timer = setTimeout(resolve, lingerMs, LINGERED)));
      }
    } finally {
      clearTimeout(timer);
    }
    return chunk;
  };

  let submitting: Promise<unknown> | undefined;
  const feed = async () => {
    while (!stopped && !exhausted && !failure) {
      if (held >= window) {
        await new Promise<void>((resolve) => (wakeFeeder = resolve));
        continue;
      }
      const chunk = await take(Math.min(chunkSize, window - held));
      if (chunk.length === 0 || stopped) break; // items taken after a stop are dropped: nothing more is submitted
      const base = taken;
      taken += chunk.length;
      held += chunk.length;
      submittedAny = true;
      const submission = driver.submit(chunk);
      submitting = submission;
      const ids = await submission;
      submitting = undefined;
      if (stopped) break;
      ids.forEach((id, i) => indexOf.set(id, base + i));
      detaches.push(driver.watch(ids, sink));
    }
  };
  let fed = false;
  void feed().then(
    () => {
      fed = true;
      wake();
    },
    (error: unknown) => {
      fed = true;
      fail(error);
    },
  );

  let finished = false;
  try {
    for (;;) {
      const next = ordered ? done.get(nextIndex) : ready.shift();
      if (next) {
        if (ordered) done.delete(nextIndex++);
        held--;
        wake();
        yield next;
        continue;
      }
      if (failure) throw failure.error;
      if (fed && held === 0) {
        finished = true;
        return;
      }
      await new Promise<void>((resolve) => (wakeConsumer = resolve));
    }
  } finally {
    stopped = true;
    wake();
    // a submission in flight lands before the rest is cancelled, so that its tasks are cancelled too
    await submitting?.catch(() => undefined);
    for (const detach of detaches) detach();
    if (!finished) {
      // Close the source (a generator runs its finally). An async one with a next() pending would settle
      // that first, which may be never: then it is not waited for.
      if (!exhausted) {
        const closing = Promise.resolve()
          .then(() => iterator.return?.())
          .catch(() => undefined);
        if (!pendingNext) await closing;
      }
      if (submittedAny) await driver.cancelRest();
    }
  }
}
