import { z } from 'zod';
import {
  DEFAULT_LIMITS,
  EndpointRef,
  finalTaskFields,
  FunctionRef,
  JsonArgs,
  JsonKwargs,
  RemoteError,
  ResourceName,
  TaskResources,
  TaskOutput,
  pageQuery,
  pageResponse,
  TaskStatus,
  Uuid,
} from './common.js';
import { HeartbeatPayload, AgentInfo } from './endpoint.js';
import { checkSerializer, PickledValue, TaskSerializer } from './serializers.js';
import { TaskPriority } from './priority.js';
import { MAX_ATTEMPTS_SHOWN, RetryPolicy, TaskAttempt } from './retry.js';
import { TaskCacheFlag } from './memoize.js';
import { ObjectRef } from './objects.js';
import { ProgressEvent } from './live.js';
import { Speculation } from './speculation.js';

/** REST v1 request and response bodies. Paths are under `/v1`. */

// ---- endpoints -------------------------------------------------------------------------------
/**
 * Most functions one endpoint's allow-list names: every list of endpoints carries each one's list, and
 * a user may have FX_MAX_ENDPOINTS_PER_USER of them.
 */
export const MAX_ALLOWED_FUNCTIONS = 1_000;

export const RegisterEndpointRequest = z
  .object({
    name: ResourceName,
    description: z.string().max(4096).optional(),
    /** When set, only these functions may run here (checked at submit and by the agent). */
    allowedFunctions: z.array(Uuid).max(MAX_ALLOWED_FUNCTIONS).optional(),
  })
  .strict();
export type RegisterEndpointRequest = z.input<typeof RegisterEndpointRequest>;

/**
 * `PATCH /v1/endpoints/:id`: change what an endpoint may run (`allowedFunctions`: a list restricts it,
 * `null` lets it run any function) or its description. A connected agent is reconnected so that its
 * own check uses the new list at once.
 */
export const UpdateEndpointRequest = z
  .object({
    description: z.string().max(4096).nullable().optional(),
    allowedFunctions: z.array(Uuid).max(MAX_ALLOWED_FUNCTIONS).nullable().optional(),
  })
  .strict()
  .refine((r) => r.description !== undefined || r.allowedFunctions !== undefined, { message: 'nothing to change: give allowedFunctions or description' });
export type UpdateEndpointRequest = z.input<typeof UpdateEndpointRequest>;

export const EndpointState = z.enum(['online', 'offline']);
export type EndpointState = z.infer<typeof EndpointState>;

export const EndpointInfo = z.object({
  id: Uuid,
  name: z.string(),
  description: z.string().nullable(),
  ownerId: Uuid,
  state: EndpointState,
  allowedFunctions: z.array(Uuid).nullable(),
  lastHeartbeatAt: z.string().nullable(),
  connectedAt: z.string().nullable(),
  agent: AgentInfo.nullable(),
  /** The agent's latest report while the endpoint is online; null when it is offline (see lastStatus). */
  status: HeartbeatPayload.nullable(),
  /** The last report the agent sent, online or not, as of lastHeartbeatAt (its `state` is the agent's own word then). */
  lastStatus: HeartbeatPayload.nullable().default(null),
  createdAt: z.string(),
});
export type EndpointInfo = z.infer<typeof EndpointInfo>;

export const RegisterEndpointResponse = z.object({
  endpoint: EndpointInfo,
  /** The endpoint token, shown once. It speaks only the endpoint channel of this endpoint. */
  token: z.string(),
});
export type RegisterEndpointResponse = z.infer<typeof RegisterEndpointResponse>;

export const EndpointStatusResponse = z.object({
  id: Uuid,
  state: EndpointState,
  lastHeartbeatAt: z.string().nullable(),
  /** As in EndpointInfo: null when offline; lastStatus keeps the last report. */
  status: HeartbeatPayload.nullable(),
  lastStatus: HeartbeatPayload.nullable().default(null),
  /** Tasks waiting for this endpoint, and held by it. */
  tasks: z.object({ waiting: z.number().int(), dispatched: z.number().int(), running: z.number().int() }),
});
export type EndpointStatusResponse = z.infer<typeof EndpointStatusResponse>;

// ---- tasks -----------------------------------------------------------------------------------
/** The fields of one task, as SubmitTaskRequest takes them and, per item, BatchTaskItem. */
const taskFields = {
  /** A function id or name (see FunctionRef); the task records the exact version's id. */
  functionId: FunctionRef,
  /** An endpoint id or name (see EndpointRef), or an endpoint group's (endpoint-groups.ts). */
  endpointId: EndpointRef,
  /** Anywhere in args and kwargs, `{"$fx":"ref","taskId":…}` stands for that task's result (see task-refs.ts). */
  args: JsonArgs.default([]),
  kwargs: JsonKwargs.default({}),
  resources: TaskResources.optional(),
  /** How the arguments and the result travel; `pickle` is for python functions only. @default 'json' */
  serializer: TaskSerializer.optional(),
  /** serializer `pickle` only (and required there): `(args, kwargs)` pickled as one value; args and kwargs stay empty. */
  pickledArgs: PickledValue.optional(),
  /**
   * serializer `pickle` with another user's (public) function: the caller accepts its result as a pickle
   * that function's author wrote, which the Python SDK unpickles, running whatever code it names. Without
   * it such a task is refused (403 FORBIDDEN). Your own functions need none.
   */
  trustPickle: z.boolean().optional(),
  /** 0–9; higher goes first within the endpoint's queue. @default 5 */
  priority: TaskPriority.optional(),
  /** Retries after a failed attempt (see RetryPolicy); replaces the function's policy. @default the function's */
  retry: RetryPolicy.optional(),
  /** Memoize this task (see TaskCacheFlag); absent: as its function is registered. */
  cache: TaskCacheFlag.optional(),
};

export const SubmitTaskRequest = z.object(taskFields).strict().superRefine(checkSerializer);
export type SubmitTaskRequest = z.input<typeof SubmitTaskRequest>;

/**
 * Something the caller should know about an accepted submission. `ENDPOINT_OFFLINE`: the endpoint has
 * no agent connected; its tasks wait in the queue until one connects.
 */
export const SubmitWarning = z.object({
  code: z.enum(['ENDPOINT_OFFLINE']),
  endpointId: Uuid,
  message: z.string(),
});
export type SubmitWarning = z.infer<typeof SubmitWarning>;

export const SubmitTaskResponse = z.object({ taskId: Uuid, warnings: z.array(SubmitWarning).optional() });
export type SubmitTaskResponse = z.infer<typeof SubmitTaskResponse>;

/**
 * As SubmitTaskRequest, per item: `endpointId` defaults to the batch's, `priority` to the batch's, and
 * `{"$fx":"ref","index":n}` in args also stands for the result of this batch's item n (n below this item's own index).
 */
export const BatchTaskItem = z
  .object({ ...taskFields, endpointId: EndpointRef.optional() })
  .strict()
  .superRefine(checkSerializer);
export type BatchTaskItem = z.input<typeof BatchTaskItem>;

export const SubmitBatchRequest = z
  .object({
    endpointId: EndpointRef.optional(),
    tasks: z.array(BatchTaskItem).min(1),
    /** Of the items that name none. @default 5 */
    priority: TaskPriority.optional(),
    /**
     * Adds the tasks to this group of yours (POST /v1/groups made it, or an earlier batch returned it as
     * its batchId) instead of a new one: a map, or a batch too large for one request, is one group.
     */
    groupId: Uuid.optional(),
    /**
     * Copy stragglers of the group (see Speculation): set on the new group, or on the group `groupId`
     * names. Tasks of functions not registered `idempotent` are never copied.
     */
    speculation: Speculation.optional(),
  })
  .strict();
export type SubmitBatchRequest = z.input<typeof SubmitBatchRequest>;

/** The final outcome of a task as a client sees it (a result frame, and a batch's `cachedResults`). */
export const TaskOutcome = z.object({
  taskId: Uuid,
  status: z.enum(['success', 'failed', 'cancelled']),
  result: z.unknown().optional(),
  /** The result is this object (large, bytes, or a trigger's output): `result` is absent; fetch its content. */
  resultRef: ObjectRef.optional(),
  ...finalTaskFields,
});
export type TaskOutcome = z.infer<typeof TaskOutcome>;

/**
 * An outcome in a batch's answer (`cachedResults`): a TaskOutcome, and `serializer: "pickle"` when the
 * task's result is a pickle (only python unpickles it; a result frame's reader knows it from its request).
 */
export const CachedOutcome = TaskOutcome.extend({ serializer: TaskSerializer.optional() });
export type CachedOutcome = z.infer<typeof CachedOutcome>;

/** Most bytes of results and output a submission's answer carries in `cachedResults` (SubmitBatchResponse). */
export const CACHED_RESULTS_MAX_BYTES = 4 * 1024 * 1024;

/**
 * `batchId` is the id of the task group the tasks joined (GET /v1/groups/:id). `cachedResults`: the
 * outcomes of tasks of this batch that were completed at once from the cache (`cached: true`), in no
 * particular order, up to CACHED_RESULTS_MAX_BYTES of results; absent when there are none (and from
 * servers that predate it). A task whose outcome is here produces no result frame unless it is
 * subscribed again; every other task of the batch (the cache's further hits included) is delivered
 * as before, by a subscription or a results poll.
 */
export const SubmitBatchResponse = z.object({
  batchId: Uuid,
  taskIds: z.array(Uuid),
  warnings: z.array(SubmitWarning).optional(),
  cachedResults: z.array(CachedOutcome).optional(),
});
export type SubmitBatchResponse = z.infer<typeof SubmitBatchResponse>;

/** A batch's task ids but those whose outcome its answer carries (`cachedResults`): the ones still to deliver. */
export function undeliveredIds(batch: Pick<SubmitBatchResponse, 'taskIds' | 'cachedResults'>): string[] {
  if (!batch.cachedResults?.length) return batch.taskIds;
  const inline = new Set(batch.cachedResults.map((o) => o.taskId));
  return batch.taskIds.filter((id) => !inline.has(id));
}

/**
 * What every view of a task carries: who and what it is, where it runs, its state and attempt (0 on
 * the first; each requeue after a lost lease and each retry adds one).
 */
export const TaskCore = z.object({
  id: Uuid,
  functionId: Uuid,
  endpointId: Uuid,
  batchId: Uuid.nullable(),
  ownerId: Uuid,
  status: TaskStatus,
  attempt: z.number().int(),
  /** Sent to this endpoint group: `endpointId` is the member chosen for it (endpoint-groups.ts). Older servers send none. */
  endpointGroupId: Uuid.nullable().default(null),
});

export const TaskInfo = TaskCore.extend({
  /** 0–9 (an older server sends none: 5). */
  priority: TaskPriority.default(5),
  args: z.array(z.unknown()),
  kwargs: z.record(z.string(), z.unknown()),
  /** `pickle`: the arguments are `pickledArgs` and the result is a PickledValue. */
  serializer: TaskSerializer.default('json'),
  pickledArgs: PickledValue.optional(),
  result: z.unknown().optional(),
  /** The result is this object (see TaskResultEntry.resultRef). */
  resultRef: ObjectRef.optional(),
  error: RemoteError.nullable(),
  /** What a python task printed (or a failed shell task's output), when it printed anything. */
  output: TaskOutput.optional(),
  /**
   * The latest progress value its current attempt emitted, and how many it emitted (live.ts; the kept
   * ones are at GET /v1/tasks/:id/progress); absent: none.
   */
  progress: z.object({ latest: ProgressEvent, emitted: z.number().int().min(0) }).optional(),
  /**
   * Completed from a memoized result, without running: cachedFrom is the task that produced it, when the
   * reader may read that task (their own; an admin any), else null (another user's, through a shareable cache).
   */
  cached: z.boolean().default(false),
  cachedFrom: Uuid.nullable().default(null),
  timeline: z.object({
    receivedAt: z.string(),
    /** When the last of its inputs succeeded (tasks that refer to other tasks' results); null otherwise. */
    readyAt: z.string().nullable().default(null),
    waitingAt: z.string().nullable(),
    dispatchedAt: z.string().nullable(),
    runningAt: z.string().nullable(),
    completedAt: z.string().nullable(),
    /** While waiting for a retry: when the next attempt joins the queue. */
    retryAt: z.string().nullable().default(null),
  }),
  /** The task's retry policy (its own, or its function's when it was submitted); null: none. */
  retry: RetryPolicy.nullable().default(null),
  /** Every attempt so far, oldest first (the latest MAX_ATTEMPTS_SHOWN); empty until the first is dispatched. */
  attempts: z.array(TaskAttempt).max(MAX_ATTEMPTS_SHOWN).default([]),
});
export type TaskInfo = z.infer<typeof TaskInfo>;

export const TaskStatusManyRequest = z.object({ taskIds: z.array(Uuid).min(1).max(DEFAULT_LIMITS.maxIdsPerRequest) }).strict();
export type TaskStatusManyRequest = z.input<typeof TaskStatusManyRequest>;

export const TaskStatusEntry = z.object({ id: Uuid, status: TaskStatus, attempt: z.number().int() });
export const TaskStatusManyResponse = z.object({
  tasks: z.array(TaskStatusEntry),
  notFound: z.array(Uuid),
});
export type TaskStatusManyResponse = z.infer<typeof TaskStatusManyResponse>;

/** Longest `waitMs` of POST /v1/tasks/results. */
export const MAX_RESULTS_WAIT_MS = 60_000;

/**
 * POST /v1/tasks/results: outcomes of up to 10,000 of the caller's tasks, for clients without a
 * websocket. With `waitMs` the call long-polls: it answers as soon as at least one of the tasks is
 * final (at once if one already is), or after `waitMs` with the tasks as they are. A client collecting a
 * batch asks again with the ids that are not final yet.
 */
export const TaskResultsRequest = z
  .object({
    taskIds: z.array(Uuid).min(1).max(DEFAULT_LIMITS.maxIdsPerRequest),
    waitMs: z.number().int().min(0).max(MAX_RESULTS_WAIT_MS).default(0),
  })
  .strict();
export type TaskResultsRequest = z.input<typeof TaskResultsRequest>;

export const TaskResultEntry = z.object({
  taskId: Uuid,
  status: TaskStatus,
  /** 0 on the first try; each requeue after a lost lease, and each retry, adds one. */
  attempt: z.number().int(),
  /** Final tasks only: `result` for success, `error` for failed or cancelled. */
  result: z.unknown().optional(),
  /** `pickle` when the task was submitted so: its result is a PickledValue (absent for json tasks). */
  serializer: TaskSerializer.optional(),
  /** Final tasks only. */
  ...finalTaskFields,
  /** The task is final but its result did not fit in this response: ask again for it. */
  resultOmitted: z.literal(true).optional(),
  /** The result is this object (large, bytes, or a trigger's output): `result` is absent; fetch its content. */
  resultRef: ObjectRef.optional(),
});
export type TaskResultEntry = z.infer<typeof TaskResultEntry>;

export const TaskResultsResponse = z.object({
  /** One entry per visible task, in the order asked. */
  tasks: z.array(TaskResultEntry),
  /** Ids that do not exist or are not the caller's. */
  notFound: z.array(Uuid),
  /** How many of `tasks` are final. */
  final: z.number().int(),
});
export type TaskResultsResponse = z.infer<typeof TaskResultsResponse>;

export const CancelTaskResponse = z.object({ taskId: Uuid, status: TaskStatus, cancelled: z.boolean() });
export type CancelTaskResponse = z.infer<typeof CancelTaskResponse>;

// ---- users and tokens (admin) ---------------------------------------------------------------
export const CreateUserRequest = z.object({ name: ResourceName, admin: z.boolean().default(false) }).strict();
export type CreateUserRequest = z.input<typeof CreateUserRequest>;

export const UserInfo = z.object({ id: Uuid, name: z.string(), admin: z.boolean(), createdAt: z.string() });
export type UserInfo = z.infer<typeof UserInfo>;

export const CreateTokenRequest = z
  .object({
    name: z.string().min(1).max(128).default('token'),
    /** Lifetime in seconds; no expiry when absent. */
    expiresInSeconds: z
      .number()
      .int()
      .positive()
      .max(10 * 365 * 24 * 3600)
      .optional(),
  })
  .strict();
export type CreateTokenRequest = z.input<typeof CreateTokenRequest>;

export const TokenInfo = z.object({
  id: Uuid,
  name: z.string(),
  kind: z.enum(['user', 'endpoint']),
  userId: Uuid,
  endpointId: Uuid.nullable(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});
export type TokenInfo = z.infer<typeof TokenInfo>;

export const CreateTokenResponse = z.object({ token: z.string(), info: TokenInfo });
export type CreateTokenResponse = z.infer<typeof CreateTokenResponse>;

/**
 * `GET /v1/users` and `GET /v1/users/{id}/tokens` query (admin): oldest first, keyset-paged, at most
 * 1000 a page (the default too). A user's tokens grow with every endpoint registered for them.
 */
export const ListUsersQuery = z.object(pageQuery(1000)).strict();
export type ListUsersQuery = z.input<typeof ListUsersQuery>;
export type ParsedListUsersQuery = z.output<typeof ListUsersQuery>;
export const ListTokensQuery = ListUsersQuery;
export type ListTokensQuery = ListUsersQuery;
export type ParsedListTokensQuery = ParsedListUsersQuery;

export const ListUsersResponse = z.object(pageResponse(UserInfo));
export type ListUsersResponse = z.infer<typeof ListUsersResponse>;
export const ListTokensResponse = z.object(pageResponse(TokenInfo));
export type ListTokensResponse = z.infer<typeof ListTokensResponse>;

export const WhoAmIResponse = z.object({ user: UserInfo, tokenId: Uuid });
export type WhoAmIResponse = z.infer<typeof WhoAmIResponse>;

export const ListResponse = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });
