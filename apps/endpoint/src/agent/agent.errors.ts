import type { ErrorCode } from '@fx/protocol';

/** The server refused this agent for a reason that retrying cannot fix. */
export class AgentRefusedError extends Error {
  constructor(
    readonly code: ErrorCode | 'HTTP_REFUSED',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AgentRefusedError';
  }
}

/**
 * Error codes in an `error` frame that end the agent instead of a retry. CONFLICT: another agent serves
 * this endpoint (or took it over from this one); reconnecting would only fight it.
 */
export const FATAL_ERROR_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'UNSUPPORTED_PROTOCOL_VERSION',
  'ENDPOINT_DELETED',
  'CONFLICT',
]);
