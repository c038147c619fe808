import { z } from 'zod';

/** Wire protocol version. A peer speaking another version is refused with a sentence. */
export const PROTOCOL_VERSION = 1 as const;

/**
 * Default limits. The server makes each configurable; these are the values a peer may assume when
 * nothing else was negotiated (the `welcome` frame carries the ones in force).
 */
export const DEFAULT_LIMITS = Object.freeze({
  /** Largest REST request body, bytes. */
  maxRequestBytes: 10 * 1024 * 1024,
  /** Largest result (JSON-encoded), bytes; a larger one fails the task with RESULT_TOO_LARGE. */
  maxResultBytes: 10 * 1024 * 1024,
  /** Most tasks in one batch submission. */
  maxBatchTasks: 10_000,
  /** Most tasks the server sends in one `tasks` frame. */
  maxTasksPerFrame: 500,
  /** Largest websocket frame, bytes. */
  maxFrameBytes: 64 * 1024 * 1024,
  /** Most task ids in one `subscribe` frame or status query. */
  maxIdsPerRequest: 10_000,
  /** Most references to other tasks' results in one task's args and kwargs (see task-refs.ts). */
  maxRefsPerTask: 10_000,
  /** Most references in one batch submission, all its tasks together. */
  maxRefsPerBatch: 100_000,
});

export const Uuid = z.uuid();
export type Uuid = z.infer<typeof Uuid>;

/**
 * The query fields of a keyset-paged list (tasks, a group's tasks, objects): at most 1000 a page, and
 * `cursor`, the previous page's `nextCursor`. Spread into the list's query object.
 */
export const pageQuery = (defaultLimit: number) => ({
  limit: z.coerce.number().int().min(1).max(1000).default(defaultLimit),
  /** `nextCursor` of the previous page. */
  cursor: z.string().max(256).optional(),
});

/** A yes-or-no query parameter (`true` or `false`, `fallback` when absent), as a boolean. */
export const queryFlag = (fallback: boolean) =>
  z
    .enum(['true', 'false'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true');

/**
 * The fields of a keyset-paged list's answer, pageQuery's counterpart: the page's `items` and
 * `nextCursor`, to pass as `cursor` for the next page (null when this page reached the end). Spread
 * into the answer's object.
 */
export const pageResponse = <T extends z.ZodType>(item: T) => ({
  items: z.array(item),
  nextCursor: z.string().nullable(),
});

/** A name a user gives to a function or an endpoint. */
export const ResourceName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must start with a letter or digit and contain only letters, digits, ".", "_" and "-"');
export type ResourceName = z.infer<typeof ResourceName>;

const NAME = '[A-Za-z0-9][A-Za-z0-9._-]{0,127}';
const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * How a request names a function: its id (one exact version), or `name`, `name@version`,
 * `owner/name` or `owner/name@version`. A bare name means the caller's own function of that name, in
 * its newest live version; `owner/name` reaches another user's public function (any, for an admin).
 */
export const FunctionRef = z.union([
  z.uuid(),
  z
    .string()
    .regex(
      new RegExp(`^(?:${NAME}/)?${NAME}(?:@[1-9][0-9]{0,8})?$`),
      'must be a function id, or a name: "name", "name@version", "owner/name" or "owner/name@version"',
    ),
]);
export type FunctionRef = z.infer<typeof FunctionRef>;

/** How a request names an endpoint: its id, `name` (the caller's own) or `owner/name` (admins). */
export const EndpointRef = z.union([
  z.uuid(),
  z.string().regex(new RegExp(`^(?:${NAME}/)?${NAME}$`), 'must be an endpoint id, or a name: "name" or "owner/name"'),
]);
export type EndpointRef = z.infer<typeof EndpointRef>;

/** A FunctionRef or EndpointRef taken apart; a UUID is always an id (names may not look like one). */
export type ParsedRef = { id: string } | { owner?: string; name: string; version?: number };

export function parseRef(ref: string): ParsedRef {
  if (UUID_SHAPE.test(ref)) return { id: ref.toLowerCase() };
  const at = ref.lastIndexOf('@');
  const base = at >= 0 ? ref.slice(0, at) : ref;
  const slash = base.indexOf('/');
  return {
    ...(slash >= 0 ? { owner: base.slice(0, slash) } : {}),
    name: slash >= 0 ? base.slice(slash + 1) : base,
    ...(at >= 0 ? { version: Number(ref.slice(at + 1)) } : {}),
  };
}

/** Whether a string has the shape of a UUID: such a string is never taken as a name. */
export function looksLikeUuid(value: string): boolean {
  return UUID_SHAPE.test(value);
}

/**
 * `waiting-for-dependencies`: the task refers to other tasks' results (task-refs.ts) that are not all
 * in yet; when the last one succeeds it moves to `waiting-for-endpoint` on its own endpoint.
 * `waiting-for-retry`: an attempt failed with a code of the task's retry policy (retry.ts); the next
 * attempt joins the endpoint's queue when the backoff has passed.
 */
export const TaskStatus = z.enum([
  'received',
  'waiting-for-dependencies',
  'waiting-for-endpoint',
  'waiting-for-retry',
  'dispatched',
  'running',
  'success',
  'failed',
  'cancelled',
]);
export type TaskStatus = z.infer<typeof TaskStatus>;

export const FINAL_TASK_STATUSES: readonly TaskStatus[] = ['success', 'failed', 'cancelled'];
export function isFinalStatus(status: TaskStatus): boolean {
  return FINAL_TASK_STATUSES.includes(status);
}

export const FunctionRuntime = z.enum(['js', 'shell', 'mpi', 'python']);
export type FunctionRuntime = z.infer<typeof FunctionRuntime>;

/** A stored runtime name as a FunctionRuntime (rows written before a runtime existed read as js). */
export function toFunctionRuntime(value: string): FunctionRuntime {
  return FunctionRuntime.safeParse(value).data ?? 'js';
}

/** A python function's entry point: the name of a function defined at the top level of its source. */
export const PythonEntrypoint = z
  .string()
  .max(256)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a Python identifier naming a function defined in the source, e.g. "main"');

/** Stable, machine-readable error codes shared by REST bodies, socket frames and task failures. */
export const ErrorCode = z.enum([
  // request errors
  'VALIDATION_FAILED',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'BATCH_TOO_LARGE',
  'RATE_LIMITED',
  /** A per-user quota (queued tasks) is used up: not transient in seconds; wait for tasks to finish. */
  'QUOTA_EXCEEDED',
  'FUNCTION_NOT_ALLOWED',
  /** The endpoint is locked by its owner or an admin: it takes no new tasks. */
  'ENDPOINT_LOCKED',
  'UNSUPPORTED_PROTOCOL_VERSION',
  'BAD_FRAME',
  'INTERNAL',
  'UNAVAILABLE',
  // task failure codes
  'TASK_ERROR',
  /** A shell function registered with failOnNonZeroExit exited with a status other than 0. */
  'NON_ZERO_EXIT',
  'WORKER_LOST',
  'RESULT_TOO_LARGE',
  'WALLTIME_EXCEEDED',
  /** The task's processes used more memory than the endpoint's taskLimits.memoryMB allows. */
  'MEMORY_EXCEEDED',
  'MAX_ATTEMPTS_EXCEEDED',
  'TASK_CANCELLED',
  'RUNTIME_UNSUPPORTED',
  'ENDPOINT_DELETED',
  'FUNCTION_DELETED',
  'CONTENT_HASH_MISMATCH',
  /**
   * A pickle task reached a worker that cannot read its pickle: another Python major.minor than the
   * submitter's, or no cloudpickle for arguments cloudpickle wrote. The message names both sides.
   */
  'SERIALIZER_MISMATCH',
  /** No worker of the endpoint can ever hold the task's resource request (cores, gpus, nodes, walltime). */
  'RESOURCES_UNAVAILABLE',
  /** The task waited for its endpoint longer than the server's queue TTL (FX_QUEUE_TTL_SECONDS). */
  'ENDPOINT_UNAVAILABLE',
  /**
   * A task this one refers to (an input) failed or was cancelled, so this one never ran: the message
   * names the input and its code, `dependency` the first failure upstream.
   */
  'DEPENDENCY_FAILED',
  /**
   * An object the task refers to could not be fetched by its agent (deleted, collected, or the transfer
   * failed past its retries), or a result object could not be stored; the message says which and why.
   */
  'OBJECT_UNAVAILABLE',
  /**
   * Another user's task (an endpoint group's) reached an endpoint whose tasks share a Unix user (no
   * bubblewrap: sandbox `uid` or `none`, or Slurm blocks): such an endpoint runs only its owner's tasks.
   */
  'ISOLATION_REQUIRED',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** The payload type of each frame type of a channel, from the table of its frames' schemas. */
export type Payloads<M extends Record<string, z.ZodType>> = { [K in keyof M]: z.infer<M[K]> };

/** The body of every REST error and of every `error` frame. */
export const ErrorBody = z.object({
  code: ErrorCode,
  message: z.string(),
  details: z.unknown().optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

/** An error raised by user code (or by the agent on its behalf), carried back to the caller. */
export const RemoteError = z.object({
  code: ErrorCode,
  name: z.string(),
  message: z.string(),
  stack: z.string().optional(),
  /** DEPENDENCY_FAILED only: the task upstream whose failure (or cancellation) started it, and its code. */
  dependency: z.object({ taskId: Uuid, code: ErrorCode }).optional(),
});
export type RemoteError = z.infer<typeof RemoteError>;

/** Most characters of each stream of a TaskOutput: the agent keeps the tail, and the server cuts to it again. */
export const MAX_OUTPUT_CHARS = 1024 * 1024;

/**
 * What a python task printed (or a failed shell task, see NON_ZERO_EXIT): the last lines of its stdout and
 * stderr, at most MAX_OUTPUT_CHARS each. `truncated`: earlier output was dropped. Absent when it printed nothing.
 */
export const TaskOutput = z.object({
  stdout: z.string(),
  stderr: z.string(),
  truncated: z.boolean().optional(),
});
export type TaskOutput = z.infer<typeof TaskOutput>;

/** What a final task's outcome carries besides its result: in a result frame (TaskOutcome) and a results poll (TaskResultEntry). */
export const finalTaskFields = {
  error: RemoteError.optional(),
  /** What the task printed, when it printed anything (python; shell NON_ZERO_EXIT). */
  output: TaskOutput.optional(),
  completedAt: z.string().optional(),
  /** Completed from a memoized result (see TaskInfo.cached), produced by task cachedFrom (absent when the reader may not read it). */
  cached: z.literal(true).optional(),
  cachedFrom: Uuid.optional(),
};

/** Epoch milliseconds measured on the agent. */
export const TaskTimings = z.object({
  startedAt: z.number().optional(),
  finishedAt: z.number().optional(),
  workerId: z.string().optional(),
});
export type TaskTimings = z.infer<typeof TaskTimings>;

/** The value a shell function returns. */
export const ShellResult = z.object({
  cmd: z.string(),
  stdout: z.string(),
  stderr: z.string(),
  returncode: z.number().int(),
});
export type ShellResult = z.infer<typeof ShellResult>;

/**
 * What one task asks of the worker that runs it. A task goes only to a worker that can hold it; one no
 * worker of the endpoint could ever hold fails with RESOURCES_UNAVAILABLE. `nodes` and `ranksPerNode`
 * are for `mpi` functions (the launcher starts nodes × ranksPerNode ranks).
 */
export const TaskResources = z
  .object({
    cores: z.number().int().min(1).max(100_000).optional(),
    gpus: z.number().int().min(0).max(1024).optional(),
    /** Longest the task may run; overrides the function's walltime, and a block must have this much time left. */
    walltimeSeconds: z
      .number()
      .positive()
      .max(30 * 24 * 3600)
      .optional(),
    nodes: z.number().int().min(1).max(100_000).optional(),
    ranksPerNode: z.number().int().min(1).max(100_000).optional(),
  })
  .strict();
export type TaskResources = z.infer<typeof TaskResources>;

export const JsonArgs = z.array(z.unknown()).max(10_000);
export const JsonKwargs = z.record(z.string(), z.unknown());

/** Every frame on every websocket channel. */
export const Envelope = z.object({
  v: z.literal(PROTOCOL_VERSION),
  type: z.string().min(1).max(64),
  id: z.string().max(128).optional(),
  payload: z.unknown(),
});
export type Envelope = z.infer<typeof Envelope>;
