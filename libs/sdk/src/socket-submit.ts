import { CLIENT_FRAME_MAX_BYTES, PROTOCOL_VERSION, undeliveredIds, type ErrorBody, type SubmittedPayload } from '@fx/protocol';
import { ConnectionError, TimeoutError, errorFromBody } from './errors.js';

/**
 * What sending needs of a `ws` WebSocket, structurally: the published declarations then name no type of
 * `ws`, whose types (`@types/ws`) an SDK user does not install.
 */
export interface FrameSocket {
  send(data: string, cb: (err?: Error) => void): void;
}

/** Room left in a frame for its envelope around the REST body. */
const ENVELOPE_BYTES = 256;

/** Whether a REST submission body of this many bytes fits in one submit frame (else it goes over REST). */
export function fitsInFrame(bodyBytes: number, maxRequestBytes: number): boolean {
  return bodyBytes <= Math.min(CLIENT_FRAME_MAX_BYTES - ENVELOPE_BYTES, maxRequestBytes);
}

export interface SubmitOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

interface Pending {
  settle(outcome: { answer: SubmittedPayload | undefined } | { error: unknown }): void;
}

/**
 * Submit frames in flight on the client socket, by frame id. A submission resolves with the server's
 * answer, or with undefined when it certainly was not accepted and REST should carry it instead (the
 * server predates submit frames, or answered "not now": RATE_LIMITED or UNAVAILABLE, which REST
 * retries with its own backoff). A socket that closes after the frame went out leaves the submission
 * undecided: like a REST POST whose connection broke, it fails with ConnectionError and is never sent
 * again, so a task can never be created twice.
 */
export class PendingSubmits {
  private readonly pending = new Map<string, Pending>();
  private seq = 0;
  /** The server answered a submit frame as an unknown frame type: it has no submit frames; REST from now on. */
  unsupported = false;
  /**
   * Ids the server watches for this socket because their submit frame said `watch` (until their outcome
   * arrives or nobody waits any more): a wait on them needs no subscribe frame.
   */
  readonly watched = new Set<string>();
  private openWaiters: Array<(open: boolean) => void> = [];

  /** Resolves when the socket being opened opens (true) or fails to (false). */
  opening(): Promise<boolean> {
    return new Promise((settle) => this.openWaiters.push(settle));
  }

  opened(open: boolean): void {
    const waiters = this.openWaiters;
    this.openWaiters = [];
    for (const settle of waiters) settle(open);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Sends one REST body (already JSON) as a submit frame on an open socket. */
  send(
    ws: FrameSocket,
    kind: 'task' | 'batch',
    body: string,
    watch: boolean,
    options: SubmitOptions,
    delivered: (taskId: string) => boolean,
  ): Promise<SubmittedPayload | undefined> {
    const id = `t${++this.seq}`;
    // this client takes a batch's cache hits from the answer (ResultChannel.accept): a watch need not relay them
    const takes = watch && kind === 'batch' ? '"takesCached":true,' : '';
    const frame = `{"v":${PROTOCOL_VERSION},"type":"submit","id":"${id}","payload":{"watch":${watch},${takes}"${kind}":${body}}}`;
    const { signal, timeoutMs } = options;
    return new Promise((resolve, reject) => {
      const onAbort = () => this.pending.get(id)?.settle({ error: signal!.reason });
      const timer = setTimeout(
        () => this.pending.get(id)?.settle({ error: new TimeoutError(`the submission got no answer within ${timeoutMs} ms; it may have been accepted`) }),
        timeoutMs,
      );
      this.pending.set(id, {
        settle: (outcome) => {
          if (!this.pending.delete(id)) return;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          if ('error' in outcome) return reject(outcome.error);
          // marked as the answer arrives, before any result frame behind it (ws may emit both in one turn)
          if (watch && outcome.answer) for (const id of taskIdsOf(outcome.answer)) if (!delivered(id)) this.watched.add(id);
          resolve(outcome.answer);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      ws.send(frame, (err) => {
        if (err) this.pending.get(id)?.settle({ error: dropped(err) });
      });
    });
  }

  /** A `submitted` frame: true when it answered one of these. */
  answered(frameId: string | undefined, answer: SubmittedPayload): boolean {
    const p = frameId === undefined ? undefined : this.pending.get(frameId);
    p?.settle({ answer });
    return p !== undefined;
  }

  /** An `error` frame: true when it answered one of these (or said the server has no submit frames). */
  refused(frameId: string | undefined, body: ErrorBody): boolean {
    if (frameId === undefined) {
      if (body.code !== 'BAD_FRAME' || !body.message.includes('"submit"') || this.pending.size === 0) return false;
      // a server without submit frames refused one, without its id: nothing of these was accepted
      this.unsupported = true;
      for (const p of [...this.pending.values()]) p.settle({ answer: undefined });
      return true;
    }
    const p = this.pending.get(frameId);
    if (!p) return false;
    const notNow = body.code === 'RATE_LIMITED' || body.code === 'UNAVAILABLE';
    p.settle(notNow ? { answer: undefined } : { error: errorFromBody(body, true) });
    return true;
  }

  /** The socket closed: every submission still in flight is undecided. */
  closed(): void {
    this.watched.clear();
    this.opened(false);
    for (const p of [...this.pending.values()]) p.settle({ error: dropped() });
  }

  /** The client closed. */
  failAll(error: Error): void {
    this.opened(false);
    for (const p of [...this.pending.values()]) p.settle({ error });
  }
}

/** The ids the server watches after a `watch` submission: not those whose outcome the answer carries. */
const taskIdsOf = (answer: SubmittedPayload) => ('task' in answer ? [answer.task.taskId] : undeliveredIds(answer.batch));

const dropped = (cause?: unknown) =>
  new ConnectionError(
    'CONNECTION_FAILED',
    'the client socket closed before the server answered the submission: it may or may not have been accepted (it is not sent again, so it cannot run twice)',
    cause === undefined ? {} : { cause },
  );
