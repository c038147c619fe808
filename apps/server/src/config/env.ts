import { z } from 'zod';
import { DEFAULT_LIMITS, LogFormatSchema, LogLevelSchema, SPECULATION_INTERVAL_MS } from '@fx/protocol';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';

const int = (def: number, min = 1) => z.coerce.number().int().min(min).default(def);
const optionalUrl = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();

/** The repository's prisma/migrations, found from this file whether it runs from src or dist. */
const defaultMigrationsDir = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../../prisma/migrations');
/** The built admin console (apps/console/dist), found the same way. */
const defaultConsoleDir = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../console/dist');

export const EnvSchema = z
  .object({
    HOST: z.string().default('127.0.0.1'),
    PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    /** Public base URL printed for users (defaults to http://HOST:PORT). */
    FX_PUBLIC_URL: optionalUrl,
    DATABASE_URL: optionalUrl,
    DATABASE_POOL_SIZE: int(10),
    /** Without DATABASE_URL: FX's own PostgreSQL in FX_DATA_DIR (postgres), in-process PGlite (pglite), or auto (see database.factory). */
    FX_EMBEDDED_STORE: z.enum(['auto', 'postgres', 'pglite']).default('auto'),
    REDIS_URL: optionalUrl,
    FX_REDIS_PREFIX: z.string().min(1).max(64).default('fx:'),
    FX_DATA_DIR: z.string().default('./.fx'),
    FX_MIGRATIONS_DIR: z.string().default(defaultMigrationsDir),
    /** Static files of the admin console, served at /console when they exist. */
    FX_CONSOLE_DIR: z.string().default(defaultConsoleDir),
    /** HS256 key for tokens, at least 32 bytes (hex or base64). Created in the data dir when unset. */
    FX_SIGNING_KEY: optionalUrl,
    FX_ADMIN_NAME: z.string().default('admin'),
    FX_MAX_REQUEST_BYTES: int(DEFAULT_LIMITS.maxRequestBytes, 1024),
    FX_MAX_RESULT_BYTES: int(DEFAULT_LIMITS.maxResultBytes, 1024),
    /** Bytes of log text kept per task (live logs, issue 16); past it text is dropped and the task's logs marked truncated. */
    FX_MAX_TASK_LOG_BYTES: int(1024 * 1024, 0),
    /** Results whose JSON is larger than this (at most FX_MAX_RESULT_BYTES) are stored as objects, fetched by the SDKs on demand. */
    FX_INLINE_RESULT_BYTES: int(1024 * 1024, 1024),
    FX_MAX_BATCH_TASKS: int(DEFAULT_LIMITS.maxBatchTasks),
    FX_MAX_TASKS_PER_FRAME: int(DEFAULT_LIMITS.maxTasksPerFrame),
    /** Most references to other tasks' results in one task, and in one batch (futures as arguments). */
    FX_MAX_REFS_PER_TASK: int(DEFAULT_LIMITS.maxRefsPerTask),
    FX_MAX_REFS_PER_BATCH: int(DEFAULT_LIMITS.maxRefsPerBatch),
    /** Largest endpoint-channel frame. The channel's socket is sized for DEFAULT_LIMITS.maxFrameBytes, so more is refused. */
    FX_MAX_FRAME_BYTES: int(DEFAULT_LIMITS.maxFrameBytes, 1024).refine((n) => n <= DEFAULT_LIMITS.maxFrameBytes, {
      message: `must be at most ${DEFAULT_LIMITS.maxFrameBytes} (64 MiB): the endpoint channel cannot take larger frames`,
    }),
    /** Open websockets (client, console and endpoint channels together) per user, counting all their tokens; 0: no cap. */
    FX_MAX_SOCKETS_PER_USER: int(256, 0),
    /** Open websockets per remote address, authenticated or not; 0: no cap. */
    FX_MAX_SOCKETS_PER_ADDRESS: int(2048, 0),
    /** Frames per second each socket may send (a token bucket of FX_WS_FRAME_BURST); a flood closes the socket. */
    FX_WS_FRAMES_PER_SECOND: int(2_000),
    FX_WS_FRAME_BURST: int(10_000),
    /** How often open sockets' tokens are re-checked (revoked, expired, deleted), in one query per sweep. */
    FX_SOCKET_RECHECK_MS: int(2_000, 100),
    /** An HTTP request (or websocket upgrade) must send its headers within this, and the whole request within FX_REQUEST_TIMEOUT_MS. */
    FX_HEADERS_TIMEOUT_MS: int(10_000, 100),
    FX_REQUEST_TIMEOUT_MS: int(60_000, 100),
    FX_HEARTBEAT_INTERVAL_MS: int(5_000, 100),
    FX_HEARTBEAT_TIMEOUT_MS: int(20_000, 300),
    /**
     * The heartbeat interval of an agent connection that holds no task (no lease to keep alive); unset:
     * IDLE_HEARTBEAT_INTERVALS normal intervals (30 s at the default 5 s). Its timeout is derived the way
     * the normal one relates to the normal interval (idleHeartbeatTimeout). Equal to the normal interval:
     * no idle cadence.
     */
    FX_IDLE_HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(100).optional(),
    /** Lease losses a task survives; the next one fails it with MAX_ATTEMPTS_EXCEEDED. */
    FX_MAX_ATTEMPTS: int(5),
    FX_SWEEP_INTERVAL_MS: int(2_000, 50),
    /** How often stragglers of groups that asked for speculation are looked for (and copies settled). */
    FX_SPECULATION_INTERVAL_MS: int(SPECULATION_INTERVAL_MS, 50),
    /** Delivery leases in the broker older than this go back to their queue (a replica died). */
    FX_BROKER_RECLAIM_MS: int(30_000, 100),
    FX_RESULT_RETENTION_SECONDS: int(7 * 24 * 3600),
    /** REST requests per second per token (0: no limit); bursts up to FX_RATE_LIMIT_BURST. */
    FX_RATE_LIMIT_PER_SECOND: int(500, 0),
    FX_RATE_LIMIT_BURST: int(1000),
    /** Tasks one user may have unfinished (queued, dispatched or running); past it a submission gets 429 QUOTA_EXCEEDED. */
    FX_MAX_QUEUED_TASKS_PER_USER: int(1_000_000),
    /** Empty task groups (POST /v1/groups, no task added yet) one user may have (429 QUOTA_EXCEEDED past it); 0: no quota. */
    FX_GROUP_QUOTA: int(10_000, 0),
    /** Live triggers one user may have. */
    FX_MAX_TRIGGERS_PER_USER: int(100),
    /** Live endpoints one user may have registered (every list of them is read whole). */
    FX_MAX_ENDPOINTS_PER_USER: int(1_000, 1),
    /** Long-polls (POST /v1/tasks/results with waitMs) one user may have open on one replica; past it 429 RATE_LIMITED. */
    FX_MAX_LONG_POLLS_PER_USER: int(16, 1),
    /** Bytes of results and errors one POST /v1/tasks/results answer carries; outcomes past it are marked resultOmitted. */
    FX_MAX_RESULTS_RESPONSE_BYTES: int(32 * 1024 * 1024, 1024),
    /** Seconds a task may wait for its endpoint after submission before it fails ENDPOINT_UNAVAILABLE (0: forever). */
    FX_QUEUE_TTL_SECONDS: int(0, 0),
    /** Memoized results: the TTL of a task submitted with `cache: true` whose function has none, and the longest any entry lives. */
    FX_CACHE_DEFAULT_TTL_SECONDS: int(24 * 3600, 1),
    FX_CACHE_MAX_TTL_SECONDS: int(30 * 24 * 3600, 1),
    /**
     * Where object blobs and upload temp files live (default <FX_DATA_DIR>/objects). Several replicas may
     * share one path (a shared filesystem): every change there is an atomic rename or link.
     */
    FX_OBJECTS_DIR: optionalUrl,
    /** Largest object, in bytes (413 PAYLOAD_TOO_LARGE past it). */
    FX_MAX_OBJECT_BYTES: int(64 * 1024 ** 3),
    /** Bytes of live objects and open uploads one user may hold (429 QUOTA_EXCEEDED past it); 0: no quota. */
    FX_OBJECT_QUOTA_BYTES: int(100 * 1024 ** 3, 0),
    /** An upload not completed this long after it was opened is discarded. */
    FX_UPLOAD_TTL_SECONDS: int(24 * 3600),
    /** How often expired and deleted objects, unreferenced blobs and stale uploads are collected. */
    FX_OBJECT_GC_INTERVAL_MS: int(60_000, 50),
    /** One vocabulary with the agent's (npm start passes one value to both). */
    FX_LOG_LEVEL: LogLevelSchema.default('info'),
    /** `json` or `pretty`; unset: pretty when stdout is a terminal, JSON otherwise. */
    FX_LOG_FORMAT: z.preprocess((v) => (v === '' ? undefined : v), LogFormatSchema.optional()),
    /**
     * Who may read GET /metrics (Prometheus text): `loopback` answers requests from 127.0.0.1 and ::1
     * (not forwarded by a proxy) and, from anywhere else, those bearing FX_METRICS_TOKEN; `open`
     * answers anyone; `off` switches metrics off (404, and no bookkeeping on the hot path).
     */
    FX_METRICS: z.enum(['loopback', 'open', 'off']).default('loopback'),
    /** Bearer token that opens /metrics from any address (at least 16 characters); unset: loopback only. */
    FX_METRICS_TOKEN: optionalUrl,
  })
  .superRefine((env, ctx) => {
    if (env.FX_HEARTBEAT_TIMEOUT_MS <= env.FX_HEARTBEAT_INTERVAL_MS * 2) {
      ctx.addIssue({
        code: 'custom',
        path: ['FX_HEARTBEAT_TIMEOUT_MS'],
        message: `must be more than twice FX_HEARTBEAT_INTERVAL_MS (${env.FX_HEARTBEAT_INTERVAL_MS}), or one late heartbeat would drop a healthy agent`,
      });
    }
    if (env.FX_IDLE_HEARTBEAT_INTERVAL_MS !== undefined && env.FX_IDLE_HEARTBEAT_INTERVAL_MS < env.FX_HEARTBEAT_INTERVAL_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['FX_IDLE_HEARTBEAT_INTERVAL_MS'],
        message: `must be at least FX_HEARTBEAT_INTERVAL_MS (${env.FX_HEARTBEAT_INTERVAL_MS}): an agent with no task needs no more heartbeats than one with tasks`,
      });
    }
    if (env.DATABASE_URL && !/^postgres(ql)?:\/\//.test(env.DATABASE_URL)) {
      ctx.addIssue({ code: 'custom', path: ['DATABASE_URL'], message: 'must be a postgresql:// URL' });
    }
    if (env.REDIS_URL && !/^rediss?:\/\//.test(env.REDIS_URL)) {
      ctx.addIssue({ code: 'custom', path: ['REDIS_URL'], message: 'must be a redis:// or rediss:// URL' });
    }
    if (env.FX_METRICS_TOKEN !== undefined && env.FX_METRICS_TOKEN.length < 16) {
      ctx.addIssue({ code: 'custom', path: ['FX_METRICS_TOKEN'], message: 'must be at least 16 characters: it opens /metrics from any address' });
    }
    if (env.FX_SIGNING_KEY && decodeKey(env.FX_SIGNING_KEY).length < 32) {
      ctx.addIssue({ code: 'custom', path: ['FX_SIGNING_KEY'], message: 'must hold at least 32 bytes (64 hex characters or 44 base64 characters)' });
    }
  })
  .transform((env) => {
    const FX_IDLE_HEARTBEAT_INTERVAL_MS = env.FX_IDLE_HEARTBEAT_INTERVAL_MS ?? env.FX_HEARTBEAT_INTERVAL_MS * IDLE_HEARTBEAT_INTERVALS;
    return {
      ...env,
      FX_OBJECTS_DIR: env.FX_OBJECTS_DIR ?? join(env.FX_DATA_DIR, 'objects'),
      FX_IDLE_HEARTBEAT_INTERVAL_MS,
      FX_IDLE_HEARTBEAT_TIMEOUT_MS: idleHeartbeatTimeout(FX_IDLE_HEARTBEAT_INTERVAL_MS, env),
    };
  });

/** The default idle heartbeat interval, in normal intervals. */
export const IDLE_HEARTBEAT_INTERVALS = 6;

/**
 * An idle connection is dropped after the same multiple of its interval as a connection with tasks
 * (120 s at the defaults): it passes the same rule (more than twice the interval), and an agent that
 * pings when it heard nothing for 1.5 intervals is never dropped by a server whose pings were late.
 */
function idleHeartbeatTimeout(idleIntervalMs: number, env: { FX_HEARTBEAT_INTERVAL_MS: number; FX_HEARTBEAT_TIMEOUT_MS: number }): number {
  return Math.round((idleIntervalMs * env.FX_HEARTBEAT_TIMEOUT_MS) / env.FX_HEARTBEAT_INTERVAL_MS);
}

export type AppConfig = Readonly<z.infer<typeof EnvSchema>>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parses the environment once. Nothing else in the server reads process.env. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new ConfigError(`FX server refuses to start: invalid environment\n${lines.join('\n')}`);
  }
  return Object.freeze(parsed.data);
}

export function decodeKey(text: string): Buffer {
  return /^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0 ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
}

export const APP_CONFIG = Symbol('APP_CONFIG');
