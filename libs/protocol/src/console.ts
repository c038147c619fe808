import { z } from 'zod';
import { EndpointRef, ErrorBody, FunctionRef, pageQuery, pageResponse, TaskStatus, Uuid, type Payloads } from './common.js';
import { EndpointInfo, TaskCore, UserInfo } from './rest.js';

/**
 * What the admin web console needs beyond the client API: a few REST bodies, and the console
 * channel `/v1/ws/console`, which pushes coalesced changes (tasks and endpoints) to browsers.
 */

// ---- REST: tasks list ------------------------------------------------------------------------
/** A list given as one comma-separated query value (`status=failed,cancelled`). */
export const csv = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : v,
    z.array(item).min(1).max(16),
  );

/** `GET /v1/tasks` query: filters, newest first, keyset-paged with an opaque cursor. */
export const ListTasksQuery = z
  .object({
    /** One state or several, comma-separated. */
    status: csv(TaskStatus).optional(),
    /** An endpoint id or name. */
    endpointId: EndpointRef.optional(),
    /** A function id or name; a bare name means its newest version, `name@N` another. */
    functionId: FunctionRef.optional(),
    /** Admins only: another user's tasks. Non-admins always see their own. */
    ownerId: Uuid.optional(),
    batchId: Uuid.optional(),
    /** Received at or after this instant (ISO 8601). */
    since: z.iso.datetime({ offset: true }).optional(),
    /** Received before this instant (ISO 8601). */
    until: z.iso.datetime({ offset: true }).optional(),
    ...pageQuery(100),
    /** `true`: the answer also carries `counts`, per state, of every task that matches the filters. */
    counts: z.enum(['true', 'false']).optional(),
  })
  .strict();
export type ListTasksQuery = z.input<typeof ListTasksQuery>;

/** One row of the tasks list: no arguments or results (those can be large; `GET /v1/tasks/:id` has them). */
export const TaskSummary = TaskCore.extend({
  receivedAt: z.string(),
  completedAt: z.string().nullable(),
  /** The failure's code and message, for failed and cancelled tasks. */
  errorCode: z.string().nullable(),
  errorMessage: z.string().nullable(),
});
export type TaskSummary = z.infer<typeof TaskSummary>;

/** Most matching tasks `counts` looks at (the newest); when that many match, `capped` is true and the numbers are a floor. */
export const TASK_COUNT_CAP = 100_000;

export const TaskCounts = z.object({
  /** Tasks per state among those that match the filters (the cursor aside). */
  byStatus: z.partialRecord(TaskStatus, z.number().int()),
  total: z.number().int(),
  /** TASK_COUNT_CAP tasks matched: the counts are of the newest TASK_COUNT_CAP; there may be more. */
  capped: z.boolean(),
});
export type TaskCounts = z.infer<typeof TaskCounts>;

/** Newest first: `nextCursor` leads to the next (older) page. */
export const ListTasksResponse = z.object({
  ...pageResponse(TaskSummary),
  /** With `counts=true`. */
  counts: TaskCounts.optional(),
});
export type ListTasksResponse = z.infer<typeof ListTasksResponse>;

// ---- REST: functions, endpoints --------------------------------------------------------------
/** `PATCH /v1/functions/:id`. */
export const UpdateFunctionRequest = z.object({ public: z.boolean() }).strict();
export type UpdateFunctionRequest = z.input<typeof UpdateFunctionRequest>;

/** An endpoint as the console shows it: the client view plus lock, queue and owner. */
export const ConsoleEndpoint = EndpointInfo.extend({
  /** A locked endpoint refuses new tasks (409 ENDPOINT_LOCKED); queued ones still run. */
  lockedAt: z.string().nullable(),
  ownerName: z.string().nullable(),
  tasks: z.object({ waiting: z.number().int(), dispatched: z.number().int(), running: z.number().int() }),
});
export type ConsoleEndpoint = z.infer<typeof ConsoleEndpoint>;

// ---- REST: overview --------------------------------------------------------------------------
export const ThroughputBucket = z.object({
  /** Start of the minute, ISO 8601. */
  minute: z.string(),
  completed: z.number().int(),
  failed: z.number().int(),
});
export type ThroughputBucket = z.infer<typeof ThroughputBucket>;

/** `GET /v1/console/overview`: what the caller may see (everything, for an admin). */
export const OverviewResponse = z.object({
  endpoints: z.object({ online: z.number().int(), offline: z.number().int(), locked: z.number().int() }),
  queue: z.object({ waiting: z.number().int(), dispatched: z.number().int(), running: z.number().int() }),
  /** The last 60 minutes, oldest first, one bucket per minute (empty minutes included). */
  throughput: z.array(ThroughputBucket),
  generatedAt: z.string(),
});
export type OverviewResponse = z.infer<typeof OverviewResponse>;

// ---- console channel: /v1/ws/console -------------------------------------------------------
/**
 * Browsers cannot set headers on a websocket, and a token in the URL would land in access logs: the
 * first frame carries it instead. Anything else before `auth` closes the socket.
 */
export const ConsoleAuthPayload = z.object({ token: z.string().min(1).max(4096) });
export type ConsoleAuthPayload = z.infer<typeof ConsoleAuthPayload>;

export const ConsoleToServerSchemas = {
  auth: ConsoleAuthPayload,
} as const;
export type ConsoleToServer = Payloads<typeof ConsoleToServerSchemas>;

export const ConsoleReadyPayload = z.object({
  user: UserInfo,
  /** The server sends at most one `events` frame per this many milliseconds. */
  coalesceMs: z.number().int().positive(),
});
export type ConsoleReadyPayload = z.infer<typeof ConsoleReadyPayload>;

/** A task's new state (its id and status as TaskCore has them). Final states come with their completion time and error code. */
export const TaskChange = TaskCore.pick({ id: true, status: true }).extend({
  endpointId: Uuid.optional(),
  ownerId: Uuid.optional(),
  completedAt: z.string().optional(),
  errorCode: z.string().optional(),
});
export type TaskChange = z.infer<typeof TaskChange>;

/** What changed since the last frame. Each task appears once, in its latest known state. */
export const ConsoleEventsPayload = z.object({
  tasks: z.array(TaskChange),
  /** Endpoints that changed (connected, heartbeat, disconnected, locked, unlocked, registered), as they are now. */
  endpoints: z.array(ConsoleEndpoint),
  /** Endpoints deleted since the last frame. */
  removedEndpoints: z.array(Uuid),
  /**
   * More changed than one frame carries: `tasks` is incomplete, refetch what is on screen.
   * @default false
   */
  overflow: z.boolean().default(false),
});
export type ConsoleEventsPayload = z.infer<typeof ConsoleEventsPayload>;

export const ServerToConsoleSchemas = {
  ready: ConsoleReadyPayload,
  events: ConsoleEventsPayload,
  error: ErrorBody,
} as const;
export type ServerToConsole = Payloads<typeof ServerToConsoleSchemas>;

/** Most task changes in one `events` frame; beyond it the frame says `overflow`. */
export const CONSOLE_MAX_TASK_CHANGES = 20_000;
