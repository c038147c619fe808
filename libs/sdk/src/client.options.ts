import type { FunctionCache, RetryPolicyInput, SpeculationOptions, SubmitWarning, TaskResources, UsageBucket, UsageBy } from '@fx/protocol';
import type { Progress } from './result-stream.js';

// The options of Client and its methods, kept apart from the class so client.ts reads as what it does.

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
   * Oldest evicted first, also to stay within about 64 MiB (an outcome over 1 MiB is not kept:
   * KNOWN_OUTCOME_BYTES); 0 disables. Outcomes still awaited are held regardless, one per awaited id.
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
  /**
   * How its tasks are run again after a failed attempt, unless a task brings its own policy:
   * `{ maxAttempts, backoffSeconds, on: [codes] }` (see RetryPolicy).
   * @default undefined (a failure is final)
   */
  retry?: RetryPolicyInput;
  /**
   * Memoized results: a successful task's result serves identical later tasks (same function content,
   * same arguments) for `ttlSeconds`; with `shareable` on a public function, every caller's identical
   * tasks share them, otherwise each caller's are their own. Clear with `client.clearCache(fn)`.
   * @default undefined (tasks run every time, unless submitted with `cache: true`)
   */
  cache?: FunctionCache;
  /**
   * Running it twice does no harm (no side effects, or ones that tolerate repeating): a straggling
   * task of it may then get a speculative copy when its batch or map asks for `speculation`.
   * @default false
   */
  idempotent?: boolean;
}

export interface RegisterShellFunctionOptions extends RegisterFunctionOptions {
  /**
   * A non-zero exit fails the task (NON_ZERO_EXIT, its stdout and stderr in the error's `output`) instead
   * of succeeding with `{ returncode }`.
   * @default false
   */
  failOnNonZeroExit?: boolean;
  /**
   * A line of stdout that starts with this is a progress value (the rest of the line, as JSON if it
   * parses, else the text) rather than a log line (see Client.progress).
   * @default none
   */
  progressPrefix?: string;
}

export interface RegisterPythonFunctionOptions extends RegisterFunctionOptions {
  /** The function of the source each task calls, defined at its top level, e.g. `"main"`. */
  entrypoint: string;
}

export interface RegisterEndpointOptions {
  name: string;
  description?: string;
  /** When set, only these functions may run on the endpoint. @default any function */
  allowedFunctions?: string[];
}

export interface UpdateEndpointOptions {
  description?: string | null;
  /** A list restricts the endpoint to these functions; `null` lets it run any. @default unchanged */
  allowedFunctions?: string[] | null;
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
   * 0–9: higher goes first within the endpoint's queue (and on the agent); tasks of equal priority are
   * shared fairly between the users of an endpoint. In `runBatch` this applies to the items that carry
   * no `priority` of their own.
   * @default 5
   */
  priority?: number;
  /**
   * Runs the task again after a failed attempt whose code is in `on`, up to `maxAttempts` attempts in
   * all, `backoffSeconds` apart; replaces the function's policy. In `runBatch` this applies to the items
   * that carry no `retry` of their own.
   * @default the function's policy
   */
  retry?: RetryPolicyInput;
  /**
   * Called with what the server says about an accepted submission, e.g. `ENDPOINT_OFFLINE` (the tasks
   * wait in the queue until the endpoint's agent connects). The SDK never prints.
   * @default undefined
   */
  onWarning?: (warning: SubmitWarning) => void;
  /**
   * Memoize the task: `true` completes it from the stored result of an identical earlier task (its
   * info then says `cached: true` and `cachedFrom`, unless that task is another user's), or waits for an identical one that is running, and
   * stores its own result for the function's TTL (or the server's default); `false` runs it even when the
   * function is memoized. In `runBatch` this applies to the items that carry no `cache` of their own.
   * @default undefined (as the function was registered)
   */
  cache?: boolean;
}

/** `submit`: RunOptions plus the task's keyword arguments, which `run` takes positionally. */
export interface SubmitOptions extends RunOptions {
  /**
   * Keyword arguments (for shell and MPI functions, the values of the template's `{name}` placeholders).
   * @default {}
   */
  kwargs?: Record<string, unknown>;
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
   * Called as each request of the batch is accepted, with the batch id (the id of the task group all
   * its requests join) and the request's task ids. Useful to record the batch before waiting, to
   * re-attach later with `client.group(batchId)`.
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
  /**
   * A task group of yours for the tasks to join (`client.createGroup()`, a map's, an earlier batch's id).
   * @default a new group; a batch that takes several requests is one group
   */
  groupId?: string;
  /**
   * Copy stragglers: once `minSamples` tasks of the batch succeeded, a task of an `idempotent`
   * function still running `afterFactor` times their median runtime gets a copy on another worker,
   * and the first result wins (see docs/speculation.md). Tasks of other functions are never copied.
   * @default undefined (no copies)
   */
  speculation?: SpeculationOptions;
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
  /** 0–9 (see RunOptions.priority). @default the batch's `priority` */
  priority?: number;
  /** Its retry policy (see RunOptions.retry). @default the batch's `retry`, else the function's */
  retry?: RetryPolicyInput;
  /** Memoize this task (see RunOptions.cache). @default the batch's `cache` */
  cache?: boolean;
}

export interface MapOptions<T = unknown> {
  /**
   * Items per batch request.
   * @default 1000
   */
  chunkSize?: number;
  /**
   * Most tasks submitted and not yet yielded. Items are read from the source only while there is
   * room, so a source larger than memory streams through; in order, one slow task holds back at most
   * this many results.
   * @default 10000 (at least chunkSize)
   */
  window?: number;
  /**
   * Yield in the order of the items (true) or as tasks finish (false).
   * @default true
   */
  ordered?: boolean;
  /**
   * The task's positional arguments for an item.
   * @default (item) => [item]
   */
  toArgs?: (item: T, index: number) => unknown[];
  /** What each task asks of its worker (see RunOptions.resources). @default undefined (any worker) */
  resources?: TaskResources;
  /** 0–9, of every task of the map (see RunOptions.priority). @default 5 */
  priority?: number;
  /** Memoize every task of the map (see RunOptions.cache). @default as the function is registered */
  cache?: boolean;
  /**
   * Called once with the map's task group id, before its first task is submitted: `client.group(id)`
   * re-attaches to it from anywhere. With `groupId` given, the tasks join that group instead.
   */
  onGroup?: (groupId: string) => void;
  /** An existing group of yours to add the tasks to. @default a new group of kind 'map' */
  groupId?: string;
  /** Copy stragglers of the map (see RunBatchOptions.speculation). @default undefined (no copies) */
  speculation?: SpeculationOptions;
  /**
   * When the consumer stops early (break, return, an exception), cancel every unfinished task of the
   * map's group. `false` leaves them running (`fx batch` does, so that `fx watch` can follow them).
   * @default true
   */
  cancelOnStop?: boolean;
  /** An async source that trickles: a partly filled chunk is sent after this long. @default 50 */
  lingerMs?: number;
  /** See RunOptions.onWarning. */
  onWarning?: (warning: SubmitWarning) => void;
}

export interface GroupResultsOptions {
  /**
   * Most tasks awaited at once: the group is listed a page at a time, and the next page is read only
   * when fewer than this many are outstanding, so a group of any size costs bounded memory.
   * @default 10000
   */
  window?: number;
  /** Stops the stream; it ends with the signal's reason. */
  signal?: AbortSignal;
}

/** How `put` stores its data (see ObjectsClient.put). */
export interface PutOptions {
  /** A path-like key such as `input/sample-17.fastq`; an object of yours with that name gives it up to this one (and is deleted). */
  name?: string;
  /** Seconds until the object may be collected (once nothing that can still run refers to it). @default kept until deleted */
  ttlSeconds?: number;
  /**
   * How `get` and tasks read the bytes back: `bytes` (a Buffer) or `json` (the value).
   * @default 'bytes' for bytes and streams, 'json' for any other value (which is stored as its JSON)
   */
  encoding?: 'bytes' | 'json';
  /**
   * Continue this unfinished upload (ObjectUploadError.uploadId) instead of opening one: the data must
   * be the same; its first bytes, those the server holds already, are read and hashed but not sent.
   */
  uploadId?: string;
  /** Bytes per PUT: what the SDK holds at a time, and what is sent again at most after a dropped connection. @default 8 MiB */
  partBytes?: number;
  /** Hears of each part the server acknowledged: bytes it holds, and the total when known. */
  onProgress?: (progress: { bytes: number; totalBytes: number | undefined }) => void;
  /** Hears the upload's id once it exists, before any byte is sent (to resume it from another process). */
  onUpload?: (upload: { uploadId: string; offset: number }) => void;
  signal?: AbortSignal;
}

/** How `get` and `getStream` read an object. */
export interface GetObjectOptions {
  /** Return a JSON object's bytes as a Buffer instead of its value. @default false */
  raw?: boolean;
  signal?: AbortSignal;
}

/** What `usage` reports on (GET /v1/usage). The window is at most 366 days (31 with hourly buckets). */
export interface UsageOptions {
  /** Rows per user, endpoint or function (yours only, unless you are an admin). @default 'user' */
  by?: UsageBy;
  /** Start of the window (an ISO 8601 instant or a Date). @default 7 days before `until` */
  since?: string | Date;
  /** End of the window, not included. @default now */
  until?: string | Date;
  /** The series' bucket (UTC; an attempt counts in the bucket it ended in). @default 'day' */
  bucket?: UsageBucket;
}

/**
 * How much `listFunctions` reads. Other users' public functions are in the list, each with up to 1 MiB
 * of source of their choosing, so the SDK bounds what it reads; it never returns part of the list as
 * if it were all of it. Past its bounds (LIST_FUNCTIONS_MAX functions without `limit`, or the page
 * that brings the sources read to LIST_FUNCTIONS_SOURCE_BYTES, 64 MiB) with more to read, it throws
 * ListTruncatedError, whose `items` are the functions read.
 */
export interface ListFunctionsOptions {
  /**
   * At most this many functions (the oldest first): the list ends there without an error, whether or
   * not there are more. Without it, more than 1,000 functions throw ListTruncatedError.
   * @default 1000, and ListTruncatedError past it
   */
  limit?: number;
  /** `false`: every `source` is the empty string, and none is read (a list of names). @default true */
  source?: boolean;
}

/**
 * How much listUsers and listTokens read (admin lists, which grow with the deployment). Past
 * LIST_ACCOUNTS_MAX without `limit`, with more to read, they throw ListTruncatedError, whose `items`
 * are the ones read.
 */
export interface ListAccountsOptions {
  /** At most this many, the oldest first: the list ends there without an error. @default 1000, and ListTruncatedError past it */
  limit?: number;
}
