import type { ErrorBody, ErrorCode, RemoteError, TaskOutput } from '@fx/protocol';

/**
 * Every code an SDK error can carry: the wire codes, plus the few that only exist on this side of the
 * wire (the server never sent anything we could read).
 */
export type FxErrorCode =
  | ErrorCode
  | 'CONNECTION_FAILED'
  | 'TIMEOUT'
  | 'BAD_RESPONSE'
  | 'CLIENT_CLOSED'
  | 'SERIALIZATION_FAILED'
  | 'CHECKSUM_MISMATCH'
  | 'UPLOAD_INCOMPLETE'
  | 'LIST_TRUNCATED';

export interface FxErrorOptions {
  cause?: unknown;
  /** HTTP status of the response that produced the error, when there was one. */
  status?: number;
  /** The `details` of the server's error body, untouched. */
  details?: unknown;
}

/** Base of every error the SDK throws. Raw transport errors never escape; they become `cause`. */
export class FxError extends Error {
  readonly code: FxErrorCode;
  readonly status: number | undefined;
  readonly details: unknown;

  constructor(code: FxErrorCode, message: string, options: FxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    // Compiled class hierarchies over Error lose their prototype on some targets; this keeps instanceof honest.
    Object.setPrototypeOf(this, new.target.prototype);
    this.name = new.target.name;
    this.code = code;
    this.status = options.status;
    this.details = options.details;
  }
}

/** 401: the token is missing, malformed, expired or revoked. */
export class AuthenticationError extends FxError {}

/** 403: the token is valid but may not do this (e.g. an endpoint refusing a function). */
export class ForbiddenError extends FxError {}

/** 404: the resource does not exist or belongs to someone else; also a task id a subscription did not know. */
export class NotFoundError extends FxError {}

/** 400, or an input the SDK refused before sending it. */
export class ValidationError extends FxError {}

/**
 * An argument or kwarg that JSON cannot carry faithfully (NaN, undefined, a function, a Map, a BigInt,
 * a cycle...), refused before anything was sent. `path` names it: `args[0]`, `kwargs.x.y`.
 */
export class SerializationError extends ValidationError {
  readonly path: string;

  constructor(path: string, message: string) {
    super('SERIALIZATION_FAILED', message);
    this.path = path;
  }
}

/** 409: the request conflicts with the current state (e.g. a name already taken). */
export class ConflictError extends FxError {}

/** 413: the request body or batch was larger than the server accepts. */
export class PayloadTooLargeError extends FxError {}

/** 429: slow down. Thrown once retries are spent, or when the server asks for a longer wait than allowed. */
export class RateLimitError extends FxError {
  /** How long the server asked the caller to wait, from `Retry-After`; undefined when it did not say. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, retryAfterMs: number | undefined, options: FxErrorOptions = {}) {
    super('RATE_LIMITED', message, options);
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * QUOTA_EXCEEDED (429, or 403 for storage): the user has as many unfinished tasks, or as many bytes
 * in objects, as the server allows. Never retried by the SDK: the quota frees up only as tasks finish
 * (or are cancelled) or objects are deleted.
 */
export class QuotaExceededError extends FxError {}

/** 5xx, or a response that does not match the protocol. */
export class ServerError extends FxError {}

/** The server could not be reached, or the connection broke before a response arrived. */
export class ConnectionError extends FxError {}

/** A request or a wait did not finish in time. */
export class TimeoutError extends FxError {
  constructor(message: string, options: FxErrorOptions = {}) {
    super('TIMEOUT', message, options);
  }
}

/** The remote function failed. `code` is the remote failure code (TASK_ERROR, WALLTIME_EXCEEDED, ...). */
export class TaskFailedError extends FxError {
  readonly taskId: string;
  readonly remoteName: string;
  readonly remoteMessage: string;
  readonly remoteStack: string | undefined;
  /** What the task printed before it failed (python functions; shell functions with failOnNonZeroExit). */
  readonly output: TaskOutput | undefined;
  /** DEPENDENCY_FAILED: the task upstream whose failure started it, and that task's code. */
  readonly dependency: RemoteError['dependency'];

  constructor(taskId: string, remote: RemoteError | undefined, output?: TaskOutput) {
    const r = remote ?? { code: 'TASK_ERROR' as const, name: 'Error', message: 'the task failed without an error report' };
    super(r.code, `task ${taskId} failed: ${r.name}: ${r.message}`);
    this.taskId = taskId;
    this.remoteName = r.name;
    this.remoteMessage = r.message;
    this.remoteStack = r.stack;
    this.output = output;
    this.dependency = r.dependency;
    // Uncaught, Node prints `stack`; the remote frames are the ones the user needs to see.
    if (r.stack) this.stack = `${this.stack ?? this.message}\nRemote stack:\n${r.stack}`;
  }
}

/** The task was cancelled before it produced a result. */
export class TaskCancelledError extends FxError {
  readonly taskId: string;

  constructor(taskId: string) {
    super('TASK_CANCELLED', `task ${taskId} was cancelled`);
    this.taskId = taskId;
  }
}

/**
 * A batch larger than one request was split, and a later request failed after earlier ones were
 * accepted. The accepted tasks exist and will run; `cause` is the error of the failed request.
 */
export class PartialBatchError extends FxError {
  /** Ids of the tasks that were accepted, in request order (a prefix of the batch). */
  readonly acceptedTaskIds: string[];

  constructor(acceptedTaskIds: string[], cause: FxError) {
    super(cause.code, `${acceptedTaskIds.length} tasks were accepted before a batch request failed: ${cause.message}`, {
      cause,
      status: cause.status,
      details: cause.details,
    });
    this.acceptedTaskIds = acceptedTaskIds;
  }
}

/**
 * A list met the SDK's own bound (`listFunctions`: LIST_FUNCTIONS_MAX functions by default, or
 * LIST_FUNCTIONS_SOURCE_BYTES of sources; `listUsers`, `listTokens`: LIST_ACCOUNTS_MAX) while the
 * server had more to give: thrown rather than
 * returning a list that looks whole. `items` holds what was read, the head of the list in its order.
 * A `limit` the caller passes is not this bound: the list then ends at it without an error.
 */
export class ListTruncatedError<T = unknown> extends FxError {
  readonly items: T[];
  /** `count`: the default count bound; `sourceBytes`: the sources read reached the byte bound. */
  readonly bound: 'count' | 'sourceBytes';

  constructor(message: string, items: T[], bound: 'count' | 'sourceBytes') {
    super('LIST_TRUNCATED', message);
    this.items = items;
    this.bound = bound;
  }
}

/**
 * An object's bytes did not match their sha256 (or size): what was read or sent was corrupted on the
 * way, so it is refused rather than returned. Reading again, or putting again, is the cure.
 */
export class ObjectIntegrityError extends FxError {
  /** The sha256 the server vouches for, and the one of the bytes that were actually read (or sent). */
  readonly expectedSha256: string | undefined;
  readonly actualSha256: string | undefined;

  constructor(message: string, expected: string | undefined, actual: string | undefined, options: FxErrorOptions = {}) {
    super('CHECKSUM_MISMATCH', message, options);
    this.expectedSha256 = expected;
    this.actualSha256 = actual;
  }
}

/**
 * A put failed before its object existed. The server keeps the bytes it received (`offset` of them)
 * until the upload expires: `put(sameData, { uploadId })` sends only the rest. `cause` is what failed
 * (the network after its retries, the data source, a refusal such as PayloadTooLargeError), and `code`
 * is the cause's when the server or the network said no, else UPLOAD_INCOMPLETE (the data failed or differs).
 */
export class ObjectUploadError extends FxError {
  readonly uploadId: string | undefined;
  /** Bytes the server holds, as far as the SDK knows. */
  readonly offset: number;

  constructor(message: string, uploadId: string | undefined, offset: number, cause: unknown) {
    super(cause instanceof FxError ? cause.code : 'UPLOAD_INCOMPLETE', message, {
      cause,
      ...(cause instanceof FxError ? { status: cause.status, details: cause.details } : {}),
    });
    this.uploadId = uploadId;
    this.offset = offset;
  }
}

/** The SDK error of each client-error status, and the code it carries when the body names none. */
const BY_STATUS: Partial<Record<number, { type: new (code: FxErrorCode, message: string, options: FxErrorOptions) => FxError; code: FxErrorCode }>> = {
  400: { type: ValidationError, code: 'VALIDATION_FAILED' },
  401: { type: AuthenticationError, code: 'UNAUTHENTICATED' },
  403: { type: ForbiddenError, code: 'FORBIDDEN' },
  404: { type: NotFoundError, code: 'NOT_FOUND' },
  409: { type: ConflictError, code: 'CONFLICT' },
  413: { type: PayloadTooLargeError, code: 'PAYLOAD_TOO_LARGE' },
};

/** Maps a server error (REST status + body) to the matching SDK error. */
export function errorFromResponse(
  status: number,
  body: ErrorBody | undefined,
  extra: { retryAfterMs?: number; fallbackMessage?: string; httpStatus?: number | undefined } = {},
): FxError {
  const message = body?.message ?? extra.fallbackMessage ?? `the server answered HTTP ${status}`;
  const options: FxErrorOptions = { status: 'httpStatus' in extra ? extra.httpStatus : status, details: body?.details };
  if ((status === 403 || status === 429) && body?.code === 'QUOTA_EXCEEDED') return new QuotaExceededError(body.code, message, options);
  if (status === 429) return new RateLimitError(message, extra.retryAfterMs, options);
  const known = BY_STATUS[status];
  if (known) return new known.type(body?.code ?? known.code, message, options);
  if (status >= 500) return new ServerError(body?.code ?? (status === 503 ? 'UNAVAILABLE' : 'INTERNAL'), message, options);
  return new FxError(body?.code ?? 'INTERNAL', message, options);
}

/** The HTTP status each wire code travels with, so socket `error` frames map to the same classes as REST. */
const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  BAD_FRAME: 400,
  UNSUPPORTED_PROTOCOL_VERSION: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  FUNCTION_NOT_ALLOWED: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  BATCH_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  QUOTA_EXCEEDED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
};

/**
 * Maps an `error` frame from the client socket, which has no HTTP status, by its code. `asRest`: the
 * frame answers what is also a REST request (a submission), so the error carries the status REST gives.
 */
export function errorFromBody(body: ErrorBody, asRest = false): FxError {
  const status = STATUS_BY_CODE[body.code];
  if (status === undefined) return new FxError(body.code, body.message, { details: body.details });
  return errorFromResponse(status, body, asRest ? {} : { httpStatus: undefined });
}
