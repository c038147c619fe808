import { TaskLogsResponse, type LogChunk, type LogStream, type ProgressEvent } from '@fx/protocol';
import type { FxError } from './errors.js';
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
}

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
}

/** Most chunks one REST page of logs asks for. */
const LOG_PAGE = 1_000;

/**
 * A task's progress as it runs: the values the server kept, then each new one, ending when the task is
 * final. Values may be coalesced (see ProgressEvent.coalesced): `seq` only increases.
 */
export function progressEvents(live: LiveTransport, taskId: string, options: ProgressOptions = {}): AsyncIterable<ProgressEvent> {
  return follow<ProgressEvent>(live, taskId, { progress: true, logs: false, afterSeq: 0 }, (push) => ({ progress: push }), options.signal);
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
export async function* logChunks(live: LiveTransport, taskId: string, options: LogsOptions = {}): AsyncGenerator<LogChunk, void, undefined> {
  const agent = options.agent === true || options.stream === 'agent';
  const keep = (c: LogChunk) => (options.stream === undefined ? agent || c.stream !== 'agent' : c.stream === options.stream);
  if (options.follow) {
    const afterSeq = options.afterSeq ?? 0;
    const wants = { progress: false, logs: true, agentLogs: agent, afterSeq };
    for await (const chunk of follow<LogChunk>(live, taskId, wants, (push) => ({ logs: push }), options.signal)) {
      if (keep(chunk)) yield chunk;
    }
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

/** Items of one live watch as an async iteration: buffered as they come, ended by the task's end. */
async function* follow<T>(
  live: LiveTransport,
  taskId: string,
  wants: LiveWants,
  route: (push: (item: T) => void) => Partial<Pick<LiveListener, 'progress' | 'logs'>>,
  signal?: AbortSignal,
): AsyncGenerator<T, void, undefined> {
  const queue: T[] = [];
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
      while (queue.length > 0) yield queue.shift()!;
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
