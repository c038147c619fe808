import type { CancelTaskResponse, ObjectRef, ProgressEvent, TaskInfo } from '@fx/protocol';
import type { FollowedLogChunk, LogsOptions, ProgressOptions } from './live.client.js';
import type { Client } from './client.js';
import type { GetResultOptions } from './client.options.js';

/** What a handle needs of its client: a narrow slice, so the handle holds no transport of its own. */
type TaskOperations = Pick<Client, 'getResult' | 'getResultRef' | 'cancel' | 'getTask' | 'onProgress' | 'progress' | 'logs'>;

/**
 * One task, named by its id (after Temporal's workflow handles). Made by `client.submit(...)` or
 * `client.task(id)`; making one sends nothing. Each method goes through the client that made it, so
 * it fails with the same SDK errors as the client's methods: `NotFoundError` for a task the server
 * does not show you (another user's), `ConnectionError` (`CLIENT_CLOSED`) once the client is closed.
 */
export class TaskHandle<T = unknown> {
  // An ES private field: logging or serialising a handle shows its id, not the client behind it.
  readonly #client: TaskOperations;

  constructor(
    client: TaskOperations,
    /** The task id. */
    readonly id: string,
  ) {
    this.#client = client;
  }

  /**
   * Waits for the task's result over the client's result socket (Client.getResult): TaskFailedError
   * when it failed, TaskCancelledError when it was cancelled, TimeoutError after `timeoutMs`.
   */
  result(options: GetResultOptions = {}): Promise<T> {
    return this.#client.getResult<T>(this.id, options);
  }

  /**
   * Waits for the task like result(), and resolves with the reference of its result when the result
   * was stored as an object (large, bytes, a named output), undefined when it came inline.
   */
  resultRef(options: GetResultOptions = {}): Promise<ObjectRef | undefined> {
    return this.#client.getResultRef(this.id, options);
  }

  /** Asks the server to cancel the task (Client.cancel); `cancelled` is false when it had already finished. */
  cancel(): Promise<CancelTaskResponse> {
    return this.#client.cancel(this.id);
  }

  /** The task record (Client.getTask): status, attempt, function, endpoint, args, timeline, and once final its result or error. */
  describe(): Promise<TaskInfo> {
    return this.#client.getTask(this.id);
  }

  /** Calls `callback` with each progress value the task emits until it is final (Client.onProgress); returns a function that stops. */
  onProgress(callback: (event: ProgressEvent) => void): () => void {
    return this.#client.onProgress(this.id, callback);
  }

  /** The task's progress values as they come, ending when it is final (Client.progress). */
  progress(options: ProgressOptions = {}): AsyncIterable<ProgressEvent> {
    return this.#client.progress(this.id, options);
  }

  /** What the task printed (Client.logs): stored chunks, or with `follow` live until it is final. */
  logs(options: LogsOptions = {}): AsyncIterable<FollowedLogChunk> {
    return this.#client.logs(this.id, options);
  }
}
