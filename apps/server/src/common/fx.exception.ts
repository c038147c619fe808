import type { ErrorCode } from '@fx/protocol';

const STATUS: Partial<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  BAD_FRAME: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  FUNCTION_NOT_ALLOWED: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  ENDPOINT_LOCKED: 409,
  ISOLATION_REQUIRED: 409,
  PAYLOAD_TOO_LARGE: 413,
  BATCH_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  QUOTA_EXCEEDED: 429,
  UNSUPPORTED_PROTOCOL_VERSION: 400,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** The HTTP status an error code is answered with. */
export function httpStatusOf(code: ErrorCode): number {
  return STATUS[code] ?? 400;
}

/**
 * The one exception every service throws. Its code is the stable contract with clients; the global
 * filter turns it into `{ code, message, details? }` with the matching HTTP status.
 */
export class FxException extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FxException';
    this.status = httpStatusOf(code);
  }

  static notFound(what: string, id: string): FxException {
    return new FxException('NOT_FOUND', `${what} ${id} was not found, or is not yours`);
  }
}
