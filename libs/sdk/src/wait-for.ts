import type { TaskOutcome } from '@fx/protocol';
import type WebSocket from 'ws';
import { TimeoutError } from './errors.js';
import type { ResultSink } from './result-channel.js';

export interface WaitOptions {
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** Resolves with one task's final outcome, through `watch` (ResultChannel.watch), within the timeout and until the signal aborts. */
export function waitForOutcome(watch: (ids: string[], sink: ResultSink) => () => void, taskId: string, options: WaitOptions): Promise<TaskOutcome> {
  const { timeoutMs, signal } = options;
  return new Promise<TaskOutcome>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => finish(() => reject(signal!.reason), true);
    const finish = (settle: () => void, detachNeeded: boolean) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (detachNeeded) detach();
      settle();
    };
    const detach = watch([taskId], {
      outcome: (o) => finish(() => resolve(o), false),
      fail: (err) => finish(() => reject(err), false),
    });
    if (done) return;
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => finish(() => reject(new TimeoutError(`task ${taskId} did not finish within ${timeoutMs} ms`)), true), timeoutMs);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Pings every interval; a socket that missed the previous pong is presumed dead and terminated. */
export function startHeartbeat(ws: WebSocket, intervalMs: number): NodeJS.Timeout {
  const tagged = ws as WebSocket & { fxAlive?: boolean };
  tagged.fxAlive = true;
  ws.on('pong', () => {
    tagged.fxAlive = true;
  });
  const timer = setInterval(() => {
    if (!tagged.fxAlive) {
      // Half-open TCP looks healthy forever; a missed pong is the only sign.
      ws.terminate();
      return;
    }
    tagged.fxAlive = false;
    ws.ping();
  }, intervalMs);
  timer.unref();
  return timer;
}
