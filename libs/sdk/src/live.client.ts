import { TaskLogsResponse, type LogChunk, type LogStream, type ProgressEvent } from '@fx/protocol';
import type { FxError } from './errors.js';
import { FollowQueue } from './follow-queue.js';
import type { LiveListener, LiveWants } from './live-watches.js';
import type { RestRequest } from './rest-transport.js';

/** What the live streams need of a client: its result socket and its REST requests. */
export interface LiveTransport {
  watchLive(taskId: string, listener: LiveListener, wants: LiveWants): () => void;
  request<T>(req: RestRequest<T>): Promise<T>;
}

export interface ProgressOptions {
  /** Stops the iteration (it then ends without an error). */
  signal?: AbortSignal;
  /**
   * Bytes of values held for a consumer that falls behind (each value's JSON): past them the oldest
   * are dropped, and the next value yielded counts them in `coalesced`, as if the server had.
   * @default 8 MiB (FOLLOW_BUFFER_BYTES)
   */
  maxBufferedBytes?: number;
}

/**
 * A chunk as `logs` yields it. `dropped`: with `follow`, the consumer fell behind and the iteration
 * held more than `maxBufferedBytes`, so it dropped this many chunks (their text this many bytes, UTF-8)
 * just before this one; the server still has them (`logs` without `follow`, `afterSeq`).
 */
export interface FollowedLogChunk extends LogChunk {
  dropped?: { chunks: number; bytes: number };
}

/** What a following iteration holds at most for a consumer that falls behind, by default. */
export const FOLLOW_BUFFER_BYTES = 8 * 1024 * 1024;
/** What an item costs in a follow queue besides its text or value (its object, seq, stream...). */
const ITEM_OVERHEAD_BYTES = 64;

export interface LogsOptions {
  /**
   * Keep following: yield what the task prints as it prints it, until it is final. Without it, yield
   * what is stored now and end.
   * @default false
   */
  follow?: boolean;
  /** Only this stream's chunks (`agent`: only the agent's lines). @default stdout and stderr (and the agent's lines with `agent`) */
  stream?: LogStream;
  /**
   * Include the endpoint agent's own lines about the task (stream `agent`: received, started on which
   * worker, finished, requeued…), interleaved with what it printed in `seq` order.
   * @default false
   */
  agent?: boolean;
  /** Start after this chunk (a `seq` seen before). @default 0 */
  afterSeq?: number;
  /** Stops the iteration (it then ends without an error). */
  signal?: AbortSignal;
  /**
   * With `follow`: bytes of text held for a consumer that falls behind the task's output. Past them
   * the oldest chunks held are dropped, and the chunk yielded after them says so (FollowedLogChunk.dropped).
   * @default 8 MiB (FOLLOW_BUFFER_BYTES)
   */
  maxBufferedBytes?: number;
}

/** Most chunks one REST page of logs asks for. */
const LOG_PAGE = 1_000;

/**
 * A task's progress as it runs: the values the server kept, then each new one, ending when the task is
 * final. Values may be coalesced (see ProgressEvent.coalesced): `seq` only increases.
 */
export function progressEvents(live: LiveTransport, taskId: string, options: ProgressOptions = {}): AsyncIterable<ProgressEvent> {
  const queue = new FollowQueue<ProgressEvent>(
    options.maxBufferedBytes ?? FOLLOW_BUFFER_BYTES,
    (e) => ITEM_OVERHEAD_BYTES + Buffer.byteLength(JSON.stringify(e.value) ?? ''),
    // a dropped value was replaced by the next one, with those it had replaced itself
    (dropped, next) => ({ ...next, coalesced: (next.coalesced ?? 0) + (dropped.coalesced ?? 0) + 1 }),
  );
  return follow<ProgressEvent>(live, taskId, { progress: true, logs: false, afterSeq: 0 }, queue, (push) => ({ progress: push }), options.signal);
}

/** Calls `callback` with each progress value of the task until it is final; returns a function that stops. */
export function onProgress(live: LiveTransport, taskId: string, callback: (event: ProgressEvent) => void): () => void {
  return live.watchLive(
    taskId,
    {
      progress: callback,
      ended: () => undefined,
      // nothing to report it to: the task ended for this watch (closed client, not found)
      fail: () => undefined,
    },
    { progress: true, logs: false, afterSeq: 0 },
  );
}

/** What a task printed: stored chunks (REST, paged), or with `follow` those and then each new one until it is final. */
export async function* logChunks(live: LiveTransport, taskId: string, options: LogsOptions = {}): AsyncGenerator<FollowedLogChunk, void, undefined> {
  const agent = options.agent === true || options.stream === 'agent';
  const keep = (c: LogChunk) => (options.stream === undefined ? agent || c.stream !== 'agent' : c.stream === options.stream);
  if (options.follow) {
    const afterSeq = options.afterSeq ?? 0;
    const wants = { progress: false, logs: true, agentLogs: agent, afterSeq };
    const textBytes = (c: LogChunk) => Buffer.byteLength(c.text);
    const queue = new FollowQueue<FollowedLogChunk>(
      options.maxBufferedBytes ?? FOLLOW_BUFFER_BYTES,
      (c) => ITEM_OVERHEAD_BYTES + textBytes(c),
      (dropped, next) => ({
        ...next,
        dropped: {
          chunks: 1 + (dropped.dropped?.chunks ?? 0) + (next.dropped?.chunks ?? 0),
          bytes: textBytes(dropped) + (dropped.dropped?.bytes ?? 0) + (next.dropped?.bytes ?? 0),
        },
      }),
    );
    // filtered before they are queued: a chunk that is not yielded must neither hold memory nor carry a drop
    yield* follow<FollowedLogChunk>(
      live,
      taskId,
      wants,
      queue,
      (push) => ({
        logs: (c) => {
          if (keep(c)) push(c);
        },
      }),
      options.signal,
    );
    return;
  }
  let afterSeq = options.afterSeq ?? 0;
  for (;;) {
    const query = new URLSearchParams({
      afterSeq: String(afterSeq),
      limit: String(LOG_PAGE),
      ...(options.stream ? { stream: options.stream } : {}),
      ...(agent ? { agent: 'true' } : {}),
    });
    const page = await live.request({ method: 'GET', path: `/v1/tasks/${taskId}/logs?${query}`, response: TaskLogsResponse, signal: options.signal });
    yield* page.items;
    if (page.items.length < LOG_PAGE || page.nextSeq === afterSeq) return;
    afterSeq = page.nextSeq;
  }
}

/** Items of one live watch as an async iteration: queued as they come (bounded: FollowQueue), ended by the task's end. */
async function* follow<T>(
  live: LiveTransport,
  taskId: string,
  wants: LiveWants,
  queue: FollowQueue<T>,
  route: (push: (item: T) => void) => Partial<Pick<LiveListener, 'progress' | 'logs'>>,
  signal?: AbortSignal,
): AsyncGenerator<T, void, undefined> {
  let done = false;
  let failure: FxError | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const stop = live.watchLive(
    taskId,
    {
      ...(route((item) => {
        queue.push(item);
        notify();
      }) as Pick<LiveListener, 'progress' | 'logs'>),
      ended: () => {
        done = true;
        notify();
      },
      fail: (error) => {
        failure = error;
        done = true;
        notify();
      },
    },
    wants,
  );
  const onAbort = () => {
    done = true;
    notify();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) yield item;
      if (signal?.aborted) return;
      if (done) {
        if (failure) throw failure;
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    stop();
  }
}
