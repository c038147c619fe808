import {
  CancelTaskResponse,
  DEFAULT_LIMITS,
  EndpointRef,
  ListTasksQuery,
  ListTasksResponse,
  SubmitBatchResponse,
  SubmitTaskRequest,
  SubmitTaskResponse,
  TaskInfo,
  TaskResultsRequest,
  TaskResultsResponse,
  TaskStatusManyResponse,
  type AuditEntry,
  type AuditPage,
  type ObjectRef,
  type CreateTriggerRequest,
  type TriggerInfo,
  type TaskOutcome,
} from '@fx/protocol';
import type { Readable } from 'node:stream';
import { encodeBatch, taskOptions } from './batch.encoding.js';
import { sendBatch } from './batch.submission.js';
import type {
  BatchItem,
  GetObjectOptions,
  GetResultOptions,
  PutOptions,
  RunBatchOptions,
  RunOptions,
  MapOptions,
  SubmitOptions,
  TaskResultsOptions,
} from './client.options.js';
import { ValidationError } from './errors.js';
import { Executor, type ExecutorOptions } from './executor.js';
import { mapOutcomes, mapValues, type MapOutcome } from './map.js';
import { TaskGroup } from './task-group.js';
import { ClientRegistry } from './client.registry.js';
import { collectResults, outcomeValue, streamResults, watchProgress } from './result-stream.js';
import type { ObjectLike } from './object-ref.js';
import { TaskHandle } from './task-handle.js';
import { TaskRef, encodeArgs } from './task-ref.js';
import { checkInput, queryString } from './validate.js';
import { assertFaithfulJson } from './json-faithful.js';
import { auditEntries, auditPage, type AuditQueryOptions } from './audit.client.js';

/**
 * Client of one FX server: REST for everything but result waits, which share one websocket. Functions,
 * endpoints, users and tokens are ClientRegistry's (client.registry.ts); tasks, results and objects are here.
 */
export class Client extends ClientRegistry {
  // ---- tasks -----------------------------------------------------------------------------------

  /**
   * Submits one task; resolves with its id once the server has stored it. `functionId` and `endpointId`
   * may be names (see getFunction, getEndpoint); the task records the exact function version it runs.
   */
  async run(functionId: string, endpointId: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}, options: RunOptions = {}): Promise<string> {
    assertFaithfulJson((args = encodeArgs(args)), 'args');
    assertFaithfulJson((kwargs = encodeArgs(kwargs)), 'kwargs');
    const body = checkInput(SubmitTaskRequest, { functionId, endpointId, args, kwargs, ...taskOptions(options) }, 'task');
    // watched in the same round trip: a getResult that follows needs no subscribe frame
    const res = await this.submitRequest('task', JSON.stringify(body), SubmitTaskResponse, { watch: true, signal: options.signal });
    for (const w of res.warnings ?? []) options.onWarning?.(w);
    return res.taskId;
  }

  /**
   * Submits one task, like `run`, and resolves with its TaskHandle (`id`, `result()`, `cancel()`,
   * `describe()`) instead of the bare id. Kwargs, if any, go in `options.kwargs`.
   */
  async submit<T = unknown>(functionId: string, endpointId: string, args: unknown[] = [], options: SubmitOptions = {}): Promise<TaskHandle<T>> {
    const { kwargs = {}, ...runOptions } = options;
    return this.task<T>(await this.run(functionId, endpointId, args, kwargs, runOptions));
  }

  /** A reference to a task's result, to pass in another task's args or kwargs (see TaskRef). Sends nothing. */
  ref(taskId: string): TaskRef {
    return TaskRef.of(this.id(taskId, 'taskId'));
  }

  /**
   * A handle on a task you know the id of (from `run`, `runBatch`, `listTasks`, another process...).
   * Sends nothing: a task that is not yours fails on the handle's first call, with NotFoundError.
   */
  task<T = unknown>(taskId: string): TaskHandle<T> {
    return new TaskHandle<T>(this, this.id(taskId, 'taskId'));
  }

  /**
   * Submits many tasks as one task group (`onAccepted` says its id); resolves with their ids in the
   * order of `items`. A batch larger than one request allows (10,000 tasks, or `maxRequestBytes` of
   * JSON) is sent as several requests, one after another, all joining the first one's group. If a
   * later request fails, the tasks of the earlier ones exist: the PartialBatchError carries their ids.
   * Everything is validated before the first request, so only server-side failures can be partial.
   */
  async runBatch(endpointId: string, items: readonly BatchItem[], options: RunBatchOptions = {}): Promise<string[]> {
    const endpoint = checkInput(EndpointRef, endpointId, 'endpointId');
    if (!Array.isArray(items)) throw new ValidationError('VALIDATION_FAILED', 'items must be an array');
    if (items.length === 0) {
      options.onProgress?.({ done: 0, failed: 0, total: 0 });
      return [];
    }
    const groupId = options.groupId === undefined ? undefined : this.id(options.groupId, 'groupId');
    const requests = encodeBatch(endpoint, items, {
      ...taskOptions(options),
      maxRequestBytes: this.maxRequestBytes,
      groupId,
      ...(options.speculation ? { speculation: options.speculation } : {}),
    });

    const send = async (encodedBody: string) => {
      const res = await this.submitRequest('batch', encodedBody, SubmitBatchResponse, { watch: false, signal: options.signal });
      // the cache's hits came with the answer: their waits resolve at once, with no subscription
      if (res.cachedResults) this.channel.accept(res.cachedResults);
      return res;
    };
    const taskIds = await sendBatch(requests, send, { ...options, groupId });
    if (options.onProgress) watchProgress(this.channel, taskIds, options.onProgress);
    return taskIds;
  }

  async getTask(taskId: string): Promise<TaskInfo> {
    return this.request({ method: 'GET', path: `/v1/tasks/${this.id(taskId, 'taskId')}`, response: TaskInfo });
  }

  /** Status of many tasks (more than 10,000 ids take several requests). */
  async getTaskStatuses(taskIds: readonly string[]): Promise<TaskStatusManyResponse> {
    const ids = taskIds.map((id) => this.id(id, 'taskId'));
    const merged: TaskStatusManyResponse = { tasks: [], notFound: [] };
    for (let i = 0; i < ids.length; i += DEFAULT_LIMITS.maxIdsPerRequest) {
      const res = await this.request({
        method: 'POST',
        path: '/v1/tasks/status',
        body: { taskIds: ids.slice(i, i + DEFAULT_LIMITS.maxIdsPerRequest) },
        response: TaskStatusManyResponse,
        idempotent: true,
      });
      merged.tasks.push(...res.tasks);
      merged.notFound.push(...res.notFound);
    }
    return merged;
  }

  /**
   * Outcomes of up to 10,000 tasks in one request (POST /v1/tasks/results): status of each, with the
   * result or error of the final ones; ids that are not yours are in `notFound`. With `waitMs` it
   * long-polls (see TaskResultsOptions). Plain HTTP, for when the result socket is not wanted.
   */
  async getTaskResults(taskIds: readonly string[], options: TaskResultsOptions = {}): Promise<TaskResultsResponse> {
    const body = checkInput(TaskResultsRequest, { taskIds: taskIds.map((id) => this.id(id, 'taskId')), waitMs: options.waitMs ?? 0 }, 'results request');
    return this.request({
      method: 'POST',
      path: '/v1/tasks/results',
      body,
      response: TaskResultsResponse,
      idempotent: true,
      signal: options.signal,
      serverWaitMs: body.waitMs ?? 0,
    });
  }

  /**
   * Tasks you may see, newest first, filtered (`status`, `endpointId`, `functionId`, `batchId`,
   * `since`, `until`), one page of at most `limit` (1..1000, default 100). Pass `nextCursor` back as
   * `cursor` for the next (older) page; it is null on the last page.
   */
  async listTasks(query: ListTasksQuery = {}): Promise<ListTasksResponse> {
    const params = queryString(checkInput(ListTasksQuery, query, 'task list query'));
    return this.request({ method: 'GET', path: `/v1/tasks?${params}`, response: ListTasksResponse });
  }

  /** Asks the server to cancel a task. `cancelled` is false when it had already finished. */
  async cancel(taskId: string): Promise<CancelTaskResponse> {
    const path = `/v1/tasks/${this.id(taskId, 'taskId')}/cancel`;
    // Cancelling twice is harmless, so a lost response may be retried.
    return this.request({ method: 'POST', path, response: CancelTaskResponse, idempotent: true });
  }

  // ---- results ---------------------------------------------------------------------------------

  /**
   * Waits for a task's result over the shared websocket; a result stored as an object is fetched (a
   * Buffer, or the JSON value). Throws TaskFailedError when the task failed, TaskCancelledError when
   * it was cancelled, NotFoundError for a task id the server does not show you, TimeoutError after `timeoutMs`.
   */
  async getResult<T = unknown>(taskId: string, options: GetResultOptions = {}): Promise<T> {
    const id = this.id(taskId, 'taskId');
    this.assertOpen();
    return this.objects.outcomeValue<T>(await this.channel.waitFor(id, options));
  }

  /** Waits like getResult; resolves with the result's ObjectRef when it was stored as an object, undefined when it came inline. */
  async getResultRef(taskId: string, options: GetResultOptions = {}): Promise<ObjectRef | undefined> {
    const id = this.id(taskId, 'taskId');
    this.assertOpen();
    const outcome = await this.channel.waitFor(id, options);
    outcomeValue(outcome);
    return outcome.resultRef;
  }

  /** Waits for every task (like Promise.all): results in the order of `taskIds`; the first failure throws and stops the wait. */
  async getResults<T = unknown>(taskIds: readonly string[], options: GetResultOptions = {}): Promise<T[]> {
    const ids = taskIds.map((id) => this.id(id, 'taskId'));
    this.assertOpen();
    return collectResults<T>(this.channel, ids, options, (o) => this.objects.outcomeValue<T>(o));
  }

  /**
   * Streams outcomes as tasks finish, in completion order, each id once. Failed and cancelled tasks
   * are yielded as outcomes, not thrown; a task id the server does not show you, a timeout or the
   * signal end the stream with an error. Nothing is subscribed until iteration starts.
   */
  results(taskIds: readonly string[], options: GetResultOptions = {}): AsyncGenerator<TaskOutcome, void, undefined> {
    const ids = taskIds.map((id) => this.id(id, 'taskId'));
    this.assertOpen();
    return streamResults(this.channel, ids, options);
  }

  /** Runs a function once per item (`[item]` its args; see MapOptions), a bounded window of tasks at a time, yielding results in order or as they finish. */
  map<R = unknown, T = unknown>(functionId: string, endpointId: string, items: Iterable<T> | AsyncIterable<T>, options: MapOptions<T> = {}): AsyncGenerator<R> {
    return mapValues<R>(this.mapOutcomes(functionId, endpointId, items, options), (o) => this.objects.outcomeValue<R>(o));
  }

  /** As map, but yields every outcome (failed and cancelled ones too) with its item's index and task id. */
  mapOutcomes<T = unknown>(
    functionId: string,
    endpointId: string,
    items: Iterable<T> | AsyncIterable<T>,
    options: MapOptions<T> = {},
  ): AsyncGenerator<MapOutcome> {
    return mapOutcomes(this, this.transport, functionId, endpointId, items, options);
  }

  /** A task group (a batch, graph or map) by id, to list, follow (`results()`) or cancel; sends nothing. */
  group(groupId: string): TaskGroup {
    return new TaskGroup(this.transport, this.id(groupId, 'groupId'));
  }

  /** An executor that runs JS functions on one endpoint; see Executor. */
  executor(endpointId: string, options: ExecutorOptions = {}): Executor {
    this.assertOpen();
    return new Executor(this, checkInput(EndpointRef, endpointId, 'endpointId'), options);
  }

  // ---- objects: ObjectsClient (objects.client.ts) holds them; these three are the everyday calls --

  /** Stores data as an immutable object (bytes and streams as they are, other values as JSON); see ObjectsClient.put. */
  put = (data: unknown, options: PutOptions = {}): Promise<ObjectRef> => this.objects.put(data, options);
  /** An object's content (by ref, info, id or name): a Buffer, or the value of a JSON object; see ObjectsClient.get. */
  get = <T = unknown>(object: ObjectLike, options: GetObjectOptions = {}): Promise<T> => this.objects.get<T>(object, options);
  /** An object's bytes as a stream, resumed after a dropped connection and checked against its sha256; see ObjectsClient.getStream. */
  getStream = (object: ObjectLike, options: Omit<GetObjectOptions, 'raw'> = {}): Readable => this.objects.getStream(object, options);
  /** Runs a function for each object put under a prefix; see TriggersClient (`client.triggers` lists and deletes them). */
  createTrigger = (request: CreateTriggerRequest): Promise<TriggerInfo> => this.triggers.create(request);

  // ---- audit log (audit.client.ts) ---------------------------------------------------------------

  /**
   * One page of the audit log: an admin sees every entry, anyone else the entries about their things
   * and the ones they made. Filters: `action`, `actorId`, `targetType`, `targetId`, `since`, `until`;
   * pass `next` back as `after` (or `before` with `order: 'desc'`) for the next page.
   */
  audit = (query: AuditQueryOptions = {}): Promise<AuditPage> => auditPage((r) => this.request(r), query);
  /** Every matching entry of the audit log, fetched a page at a time as you iterate (`for await`). */
  auditEntries = (query: AuditQueryOptions = {}): AsyncGenerator<AuditEntry, void, undefined> => auditEntries((r) => this.request(r), query);
}
