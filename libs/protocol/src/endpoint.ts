import { z } from 'zod';
import { FunctionRuntime, JsonArgs, JsonKwargs, RemoteError, TaskOutput, TaskResources, TaskTimings, Uuid, ErrorBody, type Payloads } from './common.js';
import { PickledValue } from './serializers.js';
import { TaskPriority } from './priority.js';
import { ObjectName, ObjectRef } from './objects.js';
import { MAX_PROGRESS_PREFIX_CHARS, StreamPayload } from './live.js';
import { AttemptUsage, BlockReport, MAX_BLOCK_REPORTS } from './usage.js';

/** Endpoint channel: `/v1/ws/endpoint`, authenticated with an endpoint token. */

/**
 * The endpoint channel's own version, sent in `hello` (the envelope's `v` covers every channel and stays
 * 1). 2: `tasks` frames name each task's function by id and carry a function's spec once per connection.
 * 3: a python task may carry `pickledArgs` instead of args (an agent of version 2 would call it with none).
 * 4: results may travel as objects (`resultRef`). 5: the agent sends `stream` frames (live.ts). 6: a
 * task names the object references the server checked (`objects`); the agent resolves only those.
 * A server refuses an agent of another version with a sentence, rather than misreading its frames.
 */
export const ENDPOINT_PROTOCOL_VERSION = 6 as const;

export const AgentInfo = z.object({
  name: z.string().max(128),
  version: z.string().max(64),
  hostname: z.string().max(256),
  pid: z.number().int(),
  platform: z.string().max(64),
  provider: z.string().max(64),
  workers: z.number().int().min(0),
});
export type AgentInfo = z.infer<typeof AgentInfo>;

export const HelloPayload = z.object({
  protocolVersion: z.number().int(),
  agent: AgentInfo,
  /** Tasks the agent still holds (running, or results not yet acknowledged). Their leases are kept. */
  inFlight: z.array(Uuid).max(100_000).default([]),
  /**
   * Random per agent process: the server tells a reconnect of the same agent (which replaces its old
   * connection) from a second agent on the same endpoint (refused unless `takeover`). Absent from older agents.
   */
  instanceId: z.string().min(1).max(64).optional(),
  /** Replace whatever agent is running this endpoint now (which is told to stop, not to reconnect). */
  takeover: z.boolean().optional(),
  /**
   * The agent lets its pongs (and its own pings) stand for heartbeats, and sends a `heartbeat` frame only
   * when its status changed (see WelcomePayload.pongHeartbeats). Absent from older agents: the server
   * then counts only `heartbeat` frames, as before.
   */
  pongHeartbeats: z.boolean().optional(),
  /**
   * As in its heartbeats: its tasks do not run under bubblewrap, so it runs only its owner's. Said at
   * once, so that group routing sends it no other user's task even before its first heartbeat.
   */
  ownerOnly: z.boolean().optional(),
});
export type HelloPayload = z.infer<typeof HelloPayload>;

export const CreditsPayload = z.object({ credits: z.number().int().min(0).max(100_000) });
export type CreditsPayload = z.infer<typeof CreditsPayload>;

export const StartedPayload = z.object({
  /** `copy`: the task's speculative copy started (see TaskSpec.copy). */
  tasks: z.array(z.object({ taskId: Uuid, startedAt: z.number(), copy: z.literal(true).optional() })).max(100_000),
});
export type StartedPayload = z.infer<typeof StartedPayload>;

export const TaskResult = z.object({
  taskId: Uuid,
  attempt: z.number().int().min(0),
  status: z.enum(['success', 'failed']),
  result: z.unknown().optional(),
  error: RemoteError.optional(),
  /** What the task printed, when the runtime captures it (python; shell NON_ZERO_EXIT) and it printed anything. */
  output: TaskOutput.optional(),
  /**
   * The result is this object (uploaded by the agent with `taskId` before it sent this frame): a result
   * larger than `inlineResultBytes`, one the function returned as bytes, or any result of a task with
   * `outputName`. `result` is then absent.
   */
  resultRef: ObjectRef.optional(),
  timings: TaskTimings,
  /** What the attempt held and used (usage.ts); absent from older agents. */
  usage: AttemptUsage.optional(),
  /** The result of the task's speculative copy (see TaskSpec.copy), not of its own attempt. */
  copy: z.literal(true).optional(),
});
export type TaskResult = z.infer<typeof TaskResult>;

export const ResultsPayload = z.object({ results: z.array(TaskResult).min(1).max(100_000) });
export type ResultsPayload = z.infer<typeof ResultsPayload>;

export const WorkerCounts = z.object({ total: z.number().int(), busy: z.number().int(), idle: z.number().int() });
export type WorkerCounts = z.infer<typeof WorkerCounts>;

/** Largest `details` of a heartbeat, as JSON; the server stores it for every endpoint and admins list them. */
export const MAX_HEARTBEAT_DETAILS_BYTES = 16 * 1024;

function boundDetails(details: Record<string, unknown>): Record<string, unknown> {
  const size = new TextEncoder().encode(JSON.stringify(details)).length;
  if (size <= MAX_HEARTBEAT_DETAILS_BYTES) return details;
  return { truncated: `… [truncated ${size} bytes: heartbeat details may hold at most ${MAX_HEARTBEAT_DETAILS_BYTES} bytes]` };
}

/** Longest `reason` of an unavailable Python, and of an executable's path, in a heartbeat. */
export const MAX_PYTHON_REASON_CHARS = 1024;
export const MAX_PYTHON_EXECUTABLE_CHARS = 4096;

/**
 * The endpoint's Python as its python workers see it (probed at agent start; on Slurm, by a block's
 * worker on its node): `sha256` is over the sorted, distinct `Name==version` lines of its
 * importlib.metadata distributions joined by "\n", so two endpoints with the same packages agree.
 * An endpoint without a usable interpreter says why, and still runs js and shell tasks.
 */
export const PythonReport = z.discriminatedUnion('available', [
  z.object({
    available: z.literal(true),
    /** `platform.python_version()`, e.g. "3.11.7". */
    version: z.string().max(64),
    /** `sys.executable` of the workers' interpreter. */
    executable: z.string().max(MAX_PYTHON_EXECUTABLE_CHARS),
    distributions: z.object({ count: z.number().int().min(0), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  }),
  z.object({ available: z.literal(false), reason: z.string().max(MAX_PYTHON_REASON_CHARS) }),
]);
export type PythonReport = z.infer<typeof PythonReport>;

export const HeartbeatPayload = z.object({
  state: z.string().max(32),
  workers: WorkerCounts,
  queued: z.number().int().min(0),
  running: z.number().int().min(0),
  spooled: z.number().int().min(0),
  provider: z.string().max(64),
  /** Free-form provider details, at most MAX_HEARTBEAT_DETAILS_BYTES serialized; more is replaced by a marker. */
  details: z.record(z.string(), z.unknown()).transform(boundDetails).optional(),
  /** The endpoint's Python; absent until probed (and from agents that predate it). */
  python: PythonReport.optional(),
  /** Pilot blocks (Slurm): live ones and the latest ended ones, for metrics and accounting (usage.ts). */
  blocks: z.array(BlockReport).max(MAX_BLOCK_REPORTS).optional(),
  /**
   * true: its tasks do not run under bubblewrap, so it runs only its owner's tasks and fails another
   * user's ISOLATION_REQUIRED; endpoint group routing sends it none. Absent: it runs any user's.
   */
  ownerOnly: z.boolean().optional(),
});
export type HeartbeatPayload = z.infer<typeof HeartbeatPayload>;

/**
 * An agent whose status shows nothing queued, running or unacknowledged holds no task, and so no lease:
 * the server and the agent both keep the idle cadence (WelcomePayload.idleHeartbeatIntervalMs) for it.
 */
export function holdsNoTasks(status: Pick<HeartbeatPayload, 'queued' | 'running' | 'spooled'>): boolean {
  return status.queued === 0 && status.running === 0 && status.spooled === 0;
}

export const FunctionSpec = z.object({
  id: Uuid,
  runtime: FunctionRuntime,
  /** js: the function's source; shell: the command template with `{name}` placeholders; python: a module's source. */
  source: z.string(),
  /** python: the function of the source a task calls. Covered by the content hash. */
  entrypoint: z.string().optional(),
  /** shell: a non-zero exit fails the task. Covered by the content hash. */
  failOnNonZeroExit: z.boolean().optional(),
  /** shell: stdout lines starting with this are progress values (live.ts). Covered by the content hash. */
  progressPrefix: z.string().max(MAX_PROGRESS_PREFIX_CHARS).optional(),
  contentHash: z.string(),
  walltimeSeconds: z.number().positive().optional(),
  /**
   * Who wrote it. A js or python worker runs only tasks of one (task owner, function author) pair: a public
   * function run by user A must not leave hooks that A's own functions then run under.
   */
  ownerId: Uuid.optional(),
});
export type FunctionSpec = z.infer<typeof FunctionSpec>;

/** A task as the agent runs it: its function resolved (see DispatchedTask for how it travels). */
export const TaskSpec = z.object({
  taskId: Uuid,
  attempt: z.number().int().min(0),
  function: FunctionSpec,
  args: JsonArgs,
  kwargs: JsonKwargs,
  /**
   * A python task submitted with serializer `pickle`: its `(args, kwargs)`, pickled (args and kwargs are
   * then empty). The worker checks the Python version, unpickles, and returns the result as a PickledValue.
   */
  pickledArgs: PickledValue.optional(),
  /** What the task asks of its worker (absent: any worker). */
  resources: TaskResources.optional(),
  /** The user who submitted it: a js worker never runs tasks of two owners (absent: one "unknown" owner). */
  ownerId: Uuid.optional(),
  /** 0–9: the agent and its workers start higher ones first (absent: 5). */
  priority: TaskPriority.optional(),
  /**
   * A trigger's task: its result is stored as an object of this name (the agent uploads it with
   * `taskId` and `name`, whatever its size) and reported as `resultRef`.
   */
  outputName: ObjectName.optional(),
  /**
   * The object references the server checked for this task: those its submitter may read (completed
   * from their rows at submit) and the objects its inputs' results are. The agent fetches and places
   * only a reference in args or kwargs equal to one of these; any other value of that shape is the
   * user's own data (sent escaped, as `$$fx`) and reaches the function as it is. Absent: none.
   */
  objects: z.array(ObjectRef).max(1_000_000).optional(),
  /**
   * A speculative copy of a task that is running already (issue 16): a second, concurrent attempt of the
   * same task id under a lease of its own. The agent runs it on another worker than the original, keeps
   * the two apart (its results, starts and acks carry `copy`), and a `cancel` may name either one.
   */
  copy: z.literal(true).optional(),
});
export type TaskSpec = z.infer<typeof TaskSpec>;

/**
 * A task in a `tasks` frame: its function by id. The frame carries a function's spec (with its source)
 * only the first time the connection needs it; see FunctionSpecCache for what the agent keeps.
 */
export const DispatchedTask = TaskSpec.omit({ function: true }).extend({ functionId: Uuid });
export type DispatchedTask = z.infer<typeof DispatchedTask>;

export const WelcomePayload = z.object({
  endpointId: Uuid,
  endpointName: z.string(),
  heartbeatIntervalMs: z.number().int().positive(),
  /** The server drops an agent that is silent this long; its leases then expire. */
  heartbeatTimeoutMs: z.number().int().positive(),
  maxTasksPerFrame: z.number().int().positive(),
  maxResultBytes: z.number().int().positive(),
  /** Results whose JSON is larger than this travel as objects (see TaskResult.resultRef); an older server sends none. */
  inlineResultBytes: z
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  /** Task ids from `inFlight` that the server no longer wants (final or reassigned): drop them. */
  forget: z.array(Uuid).default([]),
  /**
   * The functions this endpoint may run, when it is restricted; `null` (the default, and what an
   * older server sends by omission) means any. The agent checks every task against it before running.
   */
  allowedFunctions: z.array(Uuid).nullable().default(null),
  /**
   * The endpoint's owner. An agent whose tasks are not isolated from one another (no bubblewrap) runs
   * only this user's tasks, and fails another user's ISOLATION_REQUIRED. Absent from older servers.
   */
  ownerId: Uuid.optional(),
  /**
   * This server pings an agent that said `pongHeartbeats` once a heartbeat interval, and counts its pong
   * as a heartbeat (leases extended, last heartbeat refreshed with the status last reported). Such an
   * agent then sends `heartbeat` only when its status changed, and its own ping only when it heard
   * nothing from the server for a while. Absent from older servers: the agent heartbeats and pings every interval.
   */
  pongHeartbeats: z.boolean().optional(),
  /**
   * While the agent holds no task (holdsNoTasks), this server pings it only once this long and drops it
   * only after `idleHeartbeatTimeoutMs` of silence: no lease needs its heartbeats. The agent's own
   * silence thresholds follow them meanwhile. Absent from older servers: the normal ones always apply.
   */
  idleHeartbeatIntervalMs: z.number().int().positive().optional(),
  idleHeartbeatTimeoutMs: z.number().int().positive().optional(),
});
export type WelcomePayload = z.infer<typeof WelcomePayload>;

export const TasksPayload = z.object({
  /** Specs of the functions these tasks use that this connection has not been sent yet (or evicted). */
  functions: z.array(FunctionSpec).default([]),
  tasks: z.array(DispatchedTask).min(1),
});
export type TasksPayload = z.infer<typeof TasksPayload>;

export const AckPayload = z.object({
  taskIds: z.array(Uuid),
  /** Results of speculative copies acknowledged (their tasks' own results are in `taskIds`). */
  copies: z.array(Uuid).optional(),
});
export type AckPayload = z.infer<typeof AckPayload>;

export const CancelPayload = z.object({
  taskIds: z.array(Uuid).min(1),
  /**
   * Which runs of these tasks to abort: `true` only their speculative copies, `false` only the
   * originals (a copy's result won); absent: both.
   */
  copy: z.boolean().optional(),
});
export type CancelPayload = z.infer<typeof CancelPayload>;

/**
 * Tasks the agent hands back without a result because what ran them went away (an HPC block ended by
 * walltime, node failure or scancel). The server requeues them with `attempt + 1`, as for a lost lease.
 * The ids name original attempts: an agent reports a speculative copy that lost its worker as a failed
 * result (with `copy`), never here. Where the agent holds a task's copy and not its original, the server
 * takes its id for the copy, which ends.
 */
export const RequeuePayload = z.object({
  taskIds: z.array(Uuid).min(1).max(100_000),
  reason: z.string().max(1024),
});
export type RequeuePayload = z.infer<typeof RequeuePayload>;

/** Agent → server frames, by type. */
export const EndpointToServerSchemas = {
  hello: HelloPayload,
  credits: CreditsPayload,
  started: StartedPayload,
  results: ResultsPayload,
  heartbeat: HeartbeatPayload,
  requeue: RequeuePayload,
  /** Progress and logs of running tasks (live.ts). */
  stream: StreamPayload,
} as const;
export type EndpointToServer = Payloads<typeof EndpointToServerSchemas>;

/** Server → agent frames, by type. */
export const ServerToEndpointSchemas = {
  welcome: WelcomePayload,
  tasks: TasksPayload,
  ack: AckPayload,
  cancel: CancelPayload,
  error: ErrorBody,
} as const;
export type ServerToEndpoint = Payloads<typeof ServerToEndpointSchemas>;
