import { EndpointRef, FunctionRef, Uuid } from '@fx/protocol';
import type { ClientOptions } from './client.options.js';
import { createTransports } from './client.transports.js';
import { ConnectionError } from './errors.js';
import { ObjectsClient } from './objects.client.js';
import { TriggersClient } from './triggers.client.js';
import { EndpointGroupsClient } from './endpoint-groups.client.js';
import type { ResultChannel } from './result-channel.js';
import type { RestRequest, RestTransport } from './rest-transport.js';
import type { GroupTransport } from './task-group.js';
import { checkInput } from './validate.js';
import { TaskProgressResponse, type ProgressEvent, type SubmitBatchResponse, type SubmitTaskResponse } from '@fx/protocol';
import { fitsInFrame } from './socket-submit.js';
import type { Schema } from './validate.js';
import { logChunks, onProgress, progressEvents, type FollowedLogChunk, type LiveTransport, type LogsOptions, type ProgressOptions } from './live.client.js';

/**
 * What every Client method stands on: its transports, whether it is closed, and the checks of ids and
 * names. Client (client.ts, with client.registry.ts) holds the API; this holds the plumbing, so each stays one job.
 */
export abstract class ClientCore {
  protected readonly rest: RestTransport;
  protected readonly channel: ResultChannel;
  protected readonly maxRequestBytes: number;
  private readonly requestTimeoutMs: number;
  /** What task groups and maps need of the client. */
  protected readonly transport: GroupTransport;
  /** Objects: put, get, list, info, delete (see ObjectsClient; `put`, `get` and `getStream` are on the client too). */
  readonly objects: ObjectsClient;
  /** Triggers: objects put under a prefix run a function (see TriggersClient; `createTrigger` is on the client too). */
  readonly triggers: TriggersClient;
  /** Endpoint groups: several endpoints under one name, usable wherever an endpoint is (see EndpointGroupsClient). */
  readonly endpointGroups: EndpointGroupsClient;
  private closed = false;

  constructor(options: ClientOptions) {
    const transports = createTransports(options);
    this.rest = transports.rest;
    this.channel = transports.channel;
    this.maxRequestBytes = transports.maxRequestBytes;
    this.requestTimeoutMs = transports.requestTimeoutMs;
    this.transport = { request: (req) => this.request(req), channel: this.channel };
    this.objects = new ObjectsClient({
      rest: this.rest,
      request: (req) => this.request(req),
      assertOpen: () => this.assertOpen(),
      requestTimeoutMs: transports.requestTimeoutMs,
      retry: transports.retry,
    });
    this.triggers = new TriggersClient((req) => this.request(req));
    this.endpointGroups = new EndpointGroupsClient((req) => this.request(req));
  }

  /**
   * Closes the result socket and rejects every pending wait with a ConnectionError (code
   * CLIENT_CLOSED); later calls throw the same. The open socket keeps a Node process alive, so call
   * this when done.
   */
  close(): void {
    this.closed = true;
    this.channel.close();
  }

  // ---- live streams of running tasks (docs/live.md) ------------------------------------------------

  /**
   * The task's progress (what its function emits: `ctx.emit(value)`, `fx_sdk.emit(value)`, a shell
   * progress line) while it runs: the values the server kept, then each new one, ending once the task
   * is final. Emits faster than a flush are coalesced: `seq` only increases, `coalesced` counts the gap.
   * NotFoundError for a task that is not yours.
   */
  progress(taskId: string, options: ProgressOptions = {}): AsyncIterable<ProgressEvent> {
    this.assertOpen();
    return progressEvents(this.live, this.id(taskId, 'taskId'), options);
  }

  /** The progress values the server keeps for the task now (the latest few), with how many it emitted; one request. */
  getTaskProgress(taskId: string): Promise<TaskProgressResponse> {
    this.assertOpen();
    return this.request({ method: 'GET', path: `/v1/tasks/${this.id(taskId, 'taskId')}/progress`, response: TaskProgressResponse });
  }

  /** Calls `callback` with each progress value of the task until it is final; returns a function that stops. */
  onProgress(taskId: string, callback: (event: ProgressEvent) => void): () => void {
    this.assertOpen();
    return onProgress(this.live, this.id(taskId, 'taskId'), callback);
  }

  /**
   * What the task printed, chunk by chunk in order: what is stored now, or with `follow` that and then
   * each new chunk as the running task prints it, until it is final. A follower that falls more than
   * `maxBufferedBytes` behind loses the oldest chunks held, and the next chunk says how many (`dropped`).
   */
  logs(taskId: string, options: LogsOptions = {}): AsyncIterable<FollowedLogChunk> {
    this.assertOpen();
    return logChunks(this.live, this.id(taskId, 'taskId'), options);
  }

  private get live(): LiveTransport {
    return { watchLive: (id, listener, wants) => this.channel.watchLive(id, listener, wants), request: (req) => this.request(req) };
  }

  protected request<T>(req: RestRequest<T>): Promise<T> {
    this.assertOpen();
    return this.rest.request(req);
  }

  /**
   * POST /v1/tasks (`task`) or /v1/tasks/batch (`batch`) with an encoded body: as a submit frame on the
   * client socket when it is open or opens and the body fits in a frame (one hop less: no HTTP request,
   * and with `watch` no subscribe round trip either), else over REST. Either way the server applies the
   * same checks and answers the same response or error.
   */
  protected async submitRequest<T extends SubmitTaskResponse | SubmitBatchResponse>(
    kind: 'task' | 'batch',
    encodedBody: string,
    response: Schema<T>,
    options: { watch: boolean; signal?: AbortSignal | undefined },
  ): Promise<T> {
    this.assertOpen();
    if (fitsInFrame(Buffer.byteLength(encodedBody), this.maxRequestBytes)) {
      const answer = await this.channel.submit(kind, encodedBody, options.watch, { timeoutMs: this.requestTimeoutMs, signal: options.signal });
      if (answer) return ('task' in answer ? answer.task : answer.batch) as T;
    }
    return this.request({ method: 'POST', path: kind === 'task' ? '/v1/tasks' : '/v1/tasks/batch', encodedBody, response, signal: options.signal });
  }

  protected assertOpen(): void {
    if (this.closed) throw new ConnectionError('CLIENT_CLOSED', 'the client was closed');
  }

  protected id(value: string, what: string): string {
    return checkInput(Uuid, value, what);
  }

  /** A function or endpoint id or name, checked and encoded for a path segment (`owner/name` has a slash). */
  protected nameRef(value: string, schema: typeof FunctionRef | typeof EndpointRef, what: string): string {
    return encodeURIComponent(checkInput(schema, value, what));
  }
}
