import type { z } from 'zod';
import type { ErrorCode } from '@fx/protocol';
import { ACCOUNT_OPERATIONS } from './openapi-accounts.js';
import { AUDIT_OPERATIONS } from './openapi-audit.js';
import { FUNCTION_OPERATIONS } from './openapi-functions.js';
import { METRICS_OPERATIONS } from './openapi-metrics.js';
import { OBJECT_OPERATIONS } from './openapi-objects.js';
import { TASK_OPERATIONS } from './openapi-tasks.js';
import { USAGE_OPERATIONS } from './openapi-usage.js';

/**
 * What /openapi.json says of each operation: a summary, a description, the success body and the
 * error codes it may answer with. One table for every route, so a route without an entry is easy to
 * spot (test/e2e/openapi.e2e.ts fails on it); Nest's decorators still give paths, parameters and bodies.
 */
export interface OperationDoc {
  summary: string;
  description: string;
  /** The success body; null: no body (204). */
  response: z.ZodType | null;
  /** Codes beyond the ones every operation of its kind may answer (see commonErrors). */
  errors?: ErrorCode[];
  /** No token needed. */
  public?: boolean;
  /** Takes a JSON body. */
  body?: boolean;
  /** Has an `{id}` path parameter. */
  id?: boolean;
  /** The success body is raw bytes (`application/octet-stream`), not JSON. */
  binary?: boolean;
  /** The success body is text (`text/plain`: the Prometheus format), not JSON. */
  text?: boolean;
}

/** Every route's entry, one table per area (openapi-<area>.ts); a new route goes in its area's. */
export const OPERATIONS: Record<string, OperationDoc> = {
  ...ACCOUNT_OPERATIONS,
  ...FUNCTION_OPERATIONS,
  ...TASK_OPERATIONS,
  ...OBJECT_OPERATIONS,
  ...AUDIT_OPERATIONS,
  ...METRICS_OPERATIONS,
  ...USAGE_OPERATIONS,
};

/** The codes any operation of this kind may answer with, besides its own. */
export function commonErrors(op: OperationDoc): ErrorCode[] {
  const codes: ErrorCode[] = ['INTERNAL'];
  if (op.public) return codes;
  codes.push('UNAUTHENTICATED', 'FORBIDDEN', 'RATE_LIMITED', 'UNAVAILABLE');
  if (op.body) codes.push('VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE');
  if (op.id) codes.push('VALIDATION_FAILED', 'NOT_FOUND');
  if (!op.body && !op.id) codes.push('VALIDATION_FAILED');
  return codes;
}
