import {
  BatchTaskItem,
  CancelTaskResponse,
  CreateTokenRequest,
  CreateTokenResponse,
  CreateUserRequest,
  DEFAULT_LIMITS,
  EndpointInfo,
  EndpointRef,
  EndpointStatusResponse,
  FunctionInfo,
  FunctionRef,
  ListFunctionsQuery,
  ListResponse,
  ListTasksQuery,
  ListTasksResponse,
  RegisterEndpointRequest,
  RegisterEndpointResponse,
  RegisterFunctionRequest,
  SubmitBatchResponse,
  SubmitTaskRequest,
  SubmitTaskResponse,
  TaskInfo,
  TaskResultsRequest,
  TaskResultsResponse,
  TaskStatusManyResponse,
  TokenInfo,
  UserInfo,
  Uuid,
  WhoAmIResponse,
  type SubmitWarning,
  type TaskOutcome,
  type TaskResources,
} from '@fx/protocol';
import { ConnectionError, FxError, PartialBatchError, PayloadTooLargeError, ServerError, TaskCancelledError, TaskFailedError, ValidationError } from './errors.js';
import { Executor, type ExecutorOptions } from './executor.js';
import { functionSource, toResourceName } from './function-source.js';
import { ResultChannel } from './result-channel.js';
import { streamResults, type Progress } from './result-stream.js';
import { RestTransport, type RestRequest } from './rest-transport.js';
import { checkInput } from './validate.js';
import { assertFaithfulJson } from './json-faithful.js';

export interface ClientOptions {
  /** Server base url, `http(s)://host[:port][/prefix]`; REST lives under `<url>/v1`, the result socket at `<url>/v1/ws/client`. */
  url: string;
  /** A user token (`fx` admin or a token created for a user). */
  token: string;
  /**
   * Time limit for one REST attempt, response body included.
   * @default 30_000
   */
  requestTimeoutMs?: number;
  /**
   * Retries after the first attempt. Idempotent requests retry on network errors, timeouts and
   * 500/502/503/504; every request retries on 429 and 503, which by contract were not accepted.
   * @default 3
   */
  maxRetries?: number;
  /**
   * First retry delay; it doubles per attempt, with jitter. A `Retry-After` from the server replaces it.
   * @default 250
   */
  retryBaseDelayMs?: number;
  /**
   * Longest wait between retries. A `Retry-After` longer than this is not waited out: the
   * RateLimitError is thrown at once, with `retryAfterMs` set.
   * @default 30_000
   */
  retryMaxDelayMs?: number;
  /**
   * The fetch to use (a proxy agent, a test double).
   * @default globalThis.fetch
   */
  fetch?: typeof fetch;
  /**
   * Final outcomes kept after delivery, so awaiting a finished task again needs no round trip.
   * Oldest evicted first; 0 disables. Outcomes still awaited are held regardless, one per awaited id.
   * @default 1_000
   */
  resultCacheSize?: number;
  /**
   * First delay before reconnecting the result socket; doubles per failed attempt, with jitter.
   * @default 250
   */
  reconnectBaseDelayMs?: number;
  /**
   * Longest delay between reconnect attempts. The socket reconnects for as long as any result is
   * awaited; bound a wait with `timeoutMs` or a signal.
   * @default 10_000
   */
  reconnectMaxDelayMs?: number;
  /**
   * Ping interval on the result socket; a socket that misses one pong is replaced.
   * @default 30_000
   */
  heartbeatIntervalMs?: number;
  /**
   * Largest request body the SDK sends; `runBatch` splits batches to stay under it.
   * @default DEFAULT_LIMITS.maxRequestBytes (10 MiB)
   */
  maxRequestBytes?: number;
}

export interface RegisterFunctionOptions {
  /**
   * Name shown in listings.
   * @default the function's own `name` (made valid), else `"anonymous"`; `"shell"` for shell functions
   */
  name?: string;
  description?: string;
  /** Longest a run may take on the endpoint before it fails with WALLTIME_EXCEEDED. @default the server's default */
  walltimeSeconds?: number;
  /**
   * Whether other users may run it.
   * @default false
   */
  public?: boolean;
}

export interface RegisterEndpointOptions {
  name: string;
  description?: string;
  /** When set, only these functions may run on the endpoint. @default any function */
  allowedFunctions?: string[];
}

export interface RunOptions {
  /** Abandons the submission (and its retries); a request already sent may still have been accepted. */
  signal?: AbortSignal;
  /**
   * What each task asks of the worker that runs it: `{ cores, gpus, walltimeSeconds }`, and for MPI
   * functions `{ nodes, ranksPerNode }`. A task goes only to a worker that can hold it. In `runBatch`
   * this applies to the items that carry no `resources` of their own.
   * @default undefined (any worker)
   */
  resources?: TaskResources;
  /**
   * Called with what the server says about an accepted submission, e.g. `ENDPOINT_OFFLINE` (the tasks
   * wait in the queue until the endpoint's agent connects). The SDK never prints.
   * @default undefined
   */
  onWarning?: (warning: SubmitWarning) => void;
}

export interface TaskResultsOptions {
  /**
   * Long-poll: the server answers as soon as at least one of the tasks is final (at once if one
   * already is), or after this many ms (0..60000) with the tasks as they are.
   * @default 0 (answer at once)
   */
  waitMs?: number;
  signal?: AbortSignal;
}

export interface GetResultOptions {
  /**
   * Longest to wait for the result (for getResults and results: for all of them), then TimeoutError.
   * The task itself keeps running.
   * @default undefined (wait until the task finishes)
   */
  timeoutMs?: number;
  /** Stops waiting; the wait rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * getResults and results: called once when the wait starts (`done: 0`), then each time an outcome
   * arrives, with `{ done, failed, total }` over the distinct ids (`done` counts every finished task,
   * `failed` the ones among them that failed or were cancelled). It runs inside result delivery:
   * keep it quick; if it throws, the wait ends with that error.
   * @default undefined
   */
  onProgress?: (progress: Progress) => void;
}

export interface RunBatchOptions extends RunOptions {
  /**
   * Called as each request of the batch is accepted, with the batch id the server gave it and its
   * task ids (a batch larger than one request gets one batch id per request). Useful to record the
   * batch before waiting, e.g. to re-attach later with `listTasks({ batchId })`.
   * @default undefined
   */
  onAccepted?: (accepted: { batchId: string; taskIds: string[] }) => void;
  /**
   * Progress of the batch's results: once every request is accepted, the client watches the tasks
   * over its result socket and calls this once with `done: 0`, then as each outcome arrives (see
   * GetResultOptions.onProgress), until all have finished or the client is closed. `runBatch` itself
   * still resolves as soon as the tasks are accepted.
   * @default undefined
   */
  onProgress?: (progress: Progress) => void;
}

/** One task in `runBatch`. */
export interface BatchItem {
  functionId: string;
  /** @default the batch's endpoint */
  endpointId?: string;
  /** @default [] */
  args?: unknown[];
  /** @default {} */
  kwargs?: Record<string, unknown>;
  /** What this task asks of its worker (see RunOptions.resources). @default the batch's `resources` */
  resources?: TaskResources;
}

const FunctionList = ListResponse(FunctionInfo);
const EndpointList = ListResponse(EndpointInfo);
const UserList = ListResponse(UserInfo);
const TokenList = ListResponse(TokenInfo);

/** Client of one FX server: REST for everything but result waits, which share one websocket. */
export class Client {
  private readonly rest: RestTransport;
  private readonly channel: ResultChannel;
  private readonly maxRequestBytes: number;
  private closed = false;

  constructor(options: ClientOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch (cause) {
      throw new ValidationError('VALIDATION_FAILED', `url is not a valid URL: ${String(options.url)}`, { cause });
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new ValidationError('VALIDATION_FAILED', `url must be http:// or https://, got ${base.protocol}`);
    }
    if (typeof options.token !== 'string' || options.token.length === 0) {
      throw new ValidationError('VALIDATION_FAILED', 'token must be a non-empty string');
    }
    const baseUrl = `${base.origin}${base.pathname.replace(/\/+$/, '')}`;
    const wsUrl = new URL(`${baseUrl}/v1/ws/client`);
    wsUrl.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';

    const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.maxRequestBytes = options.maxRequestBytes ?? DEFAULT_LIMITS.maxRequestBytes;
    this.rest = new RestTransport({
      baseUrl,
      token: options.token,
      requestTimeoutMs,
      maxRetries: options.maxRetries ?? 3,
      retryBaseDelayMs: options.retryBaseDelayMs ?? 250,
      retryMaxDelayMs: options.retryMaxDelayMs ?? 30_000,
      fetch: options.fetch ?? globalThis.fetch,
    });
    this.channel = new ResultChannel({
      url: wsUrl.toString(),
      token: options.token,
      reconnectBaseDelayMs: options.reconnectBaseDelayMs ?? 250,
      reconnectMaxDelayMs: options.reconnectMaxDelayMs ?? 10_000,
      connectTimeoutMs: requestTimeoutMs,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 30_000,
      resultCacheSize: options.resultCacheSize ?? 1_000,
    });
  }

  // ---- functions -------------------------------------------------------------------------------

  /**
   * Registers a JS function; its `toString()` is the source, so it must not use variables from its
   * closure. Returns the function id: the existing one when this name's newest version is the same
   * registration, else the id of a new version of the name (the name alone then means it).
   */
  async registerFunction(fn: (...args: never[]) => unknown, options: RegisterFunctionOptions = {}): Promise<string> {
    const source = functionSource(fn);
    const info = await this.createFunction({
      name: options.name ?? toResourceName(fn.name, 'anonymous'),
      runtime: 'js',
      source,
      ...this.functionExtras(options),
    });
    return info.id;
  }

  /** Registers a shell command template (`{name}` placeholders are filled from kwargs on the endpoint). Returns the function id. */
  async registerShellFunction(template: string, options: RegisterFunctionOptions = {}): Promise<string> {
    const info = await this.createFunction({ name: options.name ?? 'shell', runtime: 'shell', source: template, ...this.functionExtras(options) });
    return info.id;
  }

  /**
   * Registers an MPI function: a shell command template run under the endpoint's MPI launcher (`srun`,
   * or `mpiexec` by endpoint config) inside an HPC block, with `nodes × ranksPerNode` ranks taken from
   * each task's `resources` (default 1 × 1). Results are `{ cmd, stdout, stderr, returncode }`.
   */
  async registerMpiFunction(template: string, options: RegisterFunctionOptions = {}): Promise<string> {
    const info = await this.createFunction({ name: options.name ?? 'mpi', runtime: 'mpi', source: template, ...this.functionExtras(options) });
    return info.id;
  }

  /** Registers a function from a full request; returns what the server stored. */
  async createFunction(request: RegisterFunctionRequest): Promise<FunctionInfo> {
    const body = checkInput(RegisterFunctionRequest, request, 'function registration');
    return this.request({ method: 'POST', path: '/v1/functions', body, response: FunctionInfo });
  }

  /**
   * A function by id or name: `name` (your own, newest version), `name@version`, or `owner/name[@version]`
   * (another user's public function).
   */
  async getFunction(functionId: string): Promise<FunctionInfo> {
    return this.request({ method: 'GET', path: `/v1/functions/${this.ref(functionId, FunctionRef, 'functionId')}`, response: FunctionInfo });
  }

  async listFunctions(): Promise<FunctionInfo[]> {
    return (await this.request({ method: 'GET', path: '/v1/functions', response: FunctionList })).items;
  }

  /** Every live version of a function name (`name`, or `owner/name`), newest first; empty when there is none. */
  async listFunctionVersions(name: string): Promise<FunctionInfo[]> {
    const query = checkInput(ListFunctionsQuery, { name }, 'function name');
    return (await this.request({ method: 'GET', path: `/v1/functions?name=${encodeURIComponent(query.name!)}`, response: FunctionList })).items;
  }

  /** Deletes a function by id, or by name: a bare name deletes its newest version, after which the name means the one before. */
  async deleteFunction(functionId: string): Promise<void> {
    await this.request({ method: 'DELETE', path: `/v1/functions/${this.ref(functionId, FunctionRef, 'functionId')}` });
  }

  // ---- endpoints -------------------------------------------------------------------------------

  /** Registers an endpoint; the response carries its token, shown only this once. */
  async registerEndpoint(options: RegisterEndpointOptions): Promise<RegisterEndpointResponse> {
    const body = checkInput(RegisterEndpointRequest, options, 'endpoint registration');
    return this.request({ method: 'POST', path: '/v1/endpoints', body, response: RegisterEndpointResponse });
  }

  async listEndpoints(): Promise<EndpointInfo[]> {
    return (await this.request({ method: 'GET', path: '/v1/endpoints', response: EndpointList })).items;
  }

  /** An endpoint by id or name: `name` (yours; names are unique per owner) or `owner/name` (admins). */
  async getEndpoint(endpointId: string): Promise<EndpointInfo> {
    return this.request({ method: 'GET', path: `/v1/endpoints/${this.ref(endpointId, EndpointRef, 'endpointId')}`, response: EndpointInfo });
  }

  async getEndpointStatus(endpointId: string): Promise<EndpointStatusResponse> {
    return this.request({ method: 'GET', path: `/v1/endpoints/${this.ref(endpointId, EndpointRef, 'endpointId')}/status`, response: EndpointStatusResponse });
  }

  async deleteEndpoint(endpointId: string): Promise<void> {
    await this.request({ method: 'DELETE', path: `/v1/endpoints/${this.ref(endpointId, EndpointRef, 'endpointId')}` });
  }

  // ---- tasks -----------------------------------------------------------------------------------

  /**
   * Submits one task; resolves with its id once the server has stored it. `functionId` and `endpointId`
   * may be names (see getFunction, getEndpoint); the task records the exact function version it runs.
   */
  async run(functionId: string, endpointId: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}, options: RunOptions = {}): Promise<string> {
    assertFaithfulJson(args, 'args');
    assertFaithfulJson(kwargs, 'kwargs');
    const body = checkInput(SubmitTaskRequest, { functionId, endpointId, args, kwargs, ...(options.resources ? { resources: options.resources } : {}) }, 'task');
    const res = await this.request({ method: 'POST', path: '/v1/tasks', body, response: SubmitTaskResponse, signal: options.signal });
    for (const w of res.warnings ?? []) options.onWarning?.(w);
    return res.taskId;
  }

  /**
   * Submits many tasks; resolves with their ids in the order of `items`. A batch larger than one
   * request allows (10,000 tasks, or `maxRequestBytes` of JSON) is sent as several requests, one
   * after another, and the ids are concatenated in order. If a later request fails, the tasks of the
   * earlier ones exist: the PartialBatchError carries their ids. Everything is validated before the
   * first request, so only server-side failures can be partial.
   */
  async runBatch(endpointId: string, items: readonly BatchItem[], options: RunBatchOptions = {}): Promise<string[]> {
    const endpoint = checkInput(EndpointRef, endpointId, 'endpointId');
    if (!Array.isArray(items)) throw new ValidationError('VALIDATION_FAILED', 'items must be an array');
    if (items.length === 0) {
      options.onProgress?.({ done: 0, failed: 0, total: 0 });
      return [];
    }
    const batchResources = options.resources;
    if (batchResources) items = items.map((item) => (item.resources ? item : { ...item, resources: batchResources }));

    const isCheckedId = refMemo();
    const head = `{"endpointId":${JSON.stringify(endpoint)},"tasks":[`;
    const tail = ']}';
    const chunks: string[][] = [];
    let current: string[] = [];
    let bytes = head.length + tail.length;
    items.forEach((item, i) => {
      if (item?.args !== undefined) assertFaithfulJson(item.args, `items[${i}].args`);
      if (item?.kwargs !== undefined) assertFaithfulJson(item.kwargs, `items[${i}].kwargs`);
      const encoded = JSON.stringify(isPlainBatchItem(item, isCheckedId) ? item : checkInput(BatchTaskItem, item, `batch item ${i}`));
      const size = Buffer.byteLength(encoded) + 1;
      if (head.length + tail.length + size > this.maxRequestBytes) {
        throw new PayloadTooLargeError('PAYLOAD_TOO_LARGE', `batch item ${i} alone is ${size} bytes of JSON, more than the ${this.maxRequestBytes} a request may carry`);
      }
      if (current.length === DEFAULT_LIMITS.maxBatchTasks || bytes + size > this.maxRequestBytes) {
        chunks.push(current);
        current = [];
        bytes = head.length + tail.length;
      }
      current.push(encoded);
      bytes += size;
    });
    chunks.push(current);

    const taskIds: string[] = [];
    const warned = new Set<string>();
    for (const chunk of chunks) {
      try {
        const res = await this.request({
          method: 'POST',
          path: '/v1/tasks/batch',
          encodedBody: `${head}${chunk.join(',')}${tail}`,
          response: SubmitBatchResponse,
          signal: options.signal,
        });
        if (res.taskIds.length !== chunk.length) {
          throw new ServerError('BAD_RESPONSE', `the server returned ${res.taskIds.length} task ids for a batch of ${chunk.length}`);
        }
        for (const id of res.taskIds) taskIds.push(id);
        options.onAccepted?.({ batchId: res.batchId, taskIds: res.taskIds });
        // one warning per endpoint for the whole batch, not one per request
        for (const w of res.warnings ?? []) {
          if (warned.has(w.endpointId)) continue;
          warned.add(w.endpointId);
          options.onWarning?.(w);
        }
      } catch (err) {
        if (taskIds.length > 0 && err instanceof FxError) throw new PartialBatchError(taskIds, err);
        throw err;
      }
    }
    if (options.onProgress) this.trackProgress(taskIds, options.onProgress);
    return taskIds;
  }

  /** Reports result progress of tasks in the background (runBatch's onProgress). */
  private trackProgress(taskIds: readonly string[], onProgress: (progress: Progress) => void): void {
    const stream = streamResults(this.channel, taskIds, { onProgress });
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
    return this.request({ method: 'POST', path: '/v1/tasks/results', body, response: TaskResultsResponse, idempotent: true, signal: options.signal, serverWaitMs: body.waitMs ?? 0 });
  }

  /**
   * Tasks you may see, newest first, filtered (`status`, `endpointId`, `functionId`, `batchId`,
   * `since`, `until`), one page of at most `limit` (1..1000, default 100). Pass `nextCursor` back as
   * `cursor` for the next (older) page; it is null on the last page.
   */
  async listTasks(query: ListTasksQuery = {}): Promise<ListTasksResponse> {
    const parsed = checkInput(ListTasksQuery, query, 'task list query');
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(parsed)) {
      if (value === undefined) continue;
      params.set(key, Array.isArray(value) ? value.join(',') : String(value));
    }
    return this.request({ method: 'GET', path: `/v1/tasks?${params.toString()}`, response: ListTasksResponse });
  }

  /** Asks the server to cancel a task. `cancelled` is false when it had already finished. */
  async cancel(taskId: string): Promise<CancelTaskResponse> {
    const path = `/v1/tasks/${this.id(taskId, 'taskId')}/cancel`;
    // Cancelling twice is harmless, so a lost response may be retried.
    return this.request({ method: 'POST', path, response: CancelTaskResponse, idempotent: true });
  }

  // ---- results ---------------------------------------------------------------------------------

  /**
   * Waits for a task's result over the shared websocket. Throws TaskFailedError when the task failed,
   * TaskCancelledError when it was cancelled, NotFoundError for a task id the server does not show
   * you, TimeoutError after `timeoutMs`.
   */
  async getResult<T = unknown>(taskId: string, options: GetResultOptions = {}): Promise<T> {
    const id = this.id(taskId, 'taskId');
    this.assertOpen();
    return outcomeValue<T>(await this.channel.waitFor(id, options));
  }

  /** Waits for every task (like Promise.all): results in the order of `taskIds`; the first failure throws and stops the wait. */
  async getResults<T = unknown>(taskIds: readonly string[], options: GetResultOptions = {}): Promise<T[]> {
    const ids = taskIds.map((id) => this.id(id, 'taskId'));
    this.assertOpen();
    const positions = new Map<string, number[]>();
    ids.forEach((id, i) => {
      const list = positions.get(id);
      if (list) list.push(i);
      else positions.set(id, [i]);
    });
    const values = new Array<T>(ids.length);
    for await (const outcome of streamResults(this.channel, positions.keys(), options)) {
      const value = outcomeValue<T>(outcome);
      for (const i of positions.get(outcome.taskId) ?? []) values[i] = value;
    }
    return values;
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

  /** An executor that runs JS functions on one endpoint; see Executor. */
  executor(endpointId: string, options: ExecutorOptions = {}): Executor {
    this.assertOpen();
    return new Executor(this, checkInput(EndpointRef, endpointId, 'endpointId'), options);
  }

  // ---- identity and administration -------------------------------------------------------------

  async whoami(): Promise<WhoAmIResponse> {
    return this.request({ method: 'GET', path: '/v1/whoami', response: WhoAmIResponse });
  }

  /** Admin only. */
  async createUser(request: CreateUserRequest): Promise<UserInfo> {
    const body = checkInput(CreateUserRequest, request, 'user');
    return this.request({ method: 'POST', path: '/v1/users', body, response: UserInfo });
  }

  /** Admin only. */
  async listUsers(): Promise<UserInfo[]> {
    return (await this.request({ method: 'GET', path: '/v1/users', response: UserList })).items;
  }

  /** Admin only. The response carries the token, shown only this once. */
  async createToken(userId: string, request: CreateTokenRequest = {}): Promise<CreateTokenResponse> {
    const body = checkInput(CreateTokenRequest, request, 'token request');
    return this.request({ method: 'POST', path: `/v1/users/${this.id(userId, 'userId')}/tokens`, body, response: CreateTokenResponse });
  }

  /** Admin only. */
  async listTokens(userId: string): Promise<TokenInfo[]> {
    return (await this.request({ method: 'GET', path: `/v1/users/${this.id(userId, 'userId')}/tokens`, response: TokenList })).items;
  }

  /** Admin only. */
  async revokeToken(tokenId: string): Promise<void> {
    await this.request({ method: 'DELETE', path: `/v1/tokens/${this.id(tokenId, 'tokenId')}` });
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

  // ---- internals -------------------------------------------------------------------------------

  private request<T>(req: RestRequest<T>): Promise<T> {
    this.assertOpen();
    return this.rest.request(req);
  }

  private assertOpen(): void {
    if (this.closed) throw new ConnectionError('CLIENT_CLOSED', 'the client was closed');
  }

  private id(value: string, what: string): string {
    return checkInput(Uuid, value, what);
  }

  /** A function or endpoint id or name, checked and encoded for a path segment (`owner/name` has a slash). */
  private ref(value: string, schema: typeof FunctionRef | typeof EndpointRef, what: string): string {
    return encodeURIComponent(checkInput(schema, value, what));
  }

  private functionExtras(options: RegisterFunctionOptions): Partial<RegisterFunctionRequest> {
    return {
      ...(options.description === undefined ? {} : { description: options.description }),
      ...(options.walltimeSeconds === undefined ? {} : { walltimeSeconds: options.walltimeSeconds }),
      ...(options.public === undefined ? {} : { public: options.public }),
    };
  }
}

const BATCH_ITEM_KEYS = new Set(['functionId', 'endpointId', 'args', 'kwargs']);

/** A function-ref check that runs the schema once per distinct ref: a batch usually names one or two. */
function refMemo(): (value: unknown) => boolean {
  const ok = new Set<string>();
  return (value) => {
    if (typeof value !== 'string') return false;
    if (ok.has(value)) return true;
    if (!FunctionRef.safeParse(value).success) return false;
    ok.add(value);
    return true;
  };
}

/**
 * The common shape of a batch item, checked by hand: running the zod schema on each of 10,000 items
 * costs more than the request. Anything unusual goes through the schema, which also words the error.
 */
function isPlainBatchItem(item: unknown, isId: (value: unknown) => boolean): item is BatchItem {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return false;
  for (const key of Object.keys(item)) if (!BATCH_ITEM_KEYS.has(key)) return false;
  const { functionId, endpointId, args, kwargs } = item as Record<string, unknown>;
  return (
    isId(functionId) &&
    (endpointId === undefined || (isId(endpointId) && !(endpointId as string).includes('@'))) &&
    (args === undefined || (Array.isArray(args) && args.length <= 10_000)) &&
    (kwargs === undefined || (typeof kwargs === 'object' && kwargs !== null && !Array.isArray(kwargs)))
  );
}

/** A final outcome as a value or the matching error. */
export function outcomeValue<T>(outcome: TaskOutcome): T {
  switch (outcome.status) {
    case 'success':
      return outcome.result as T;
    case 'failed':
      throw new TaskFailedError(outcome.taskId, outcome.error);
    case 'cancelled':
      throw new TaskCancelledError(outcome.taskId);
  }
}
