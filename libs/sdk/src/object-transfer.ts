import { backoffDelay } from '@fx/protocol';
import { ConnectionError, RateLimitError, ServerError, TimeoutError, type FxError } from './errors.js';
import type { RestRequest, RestTransport } from './rest-transport.js';
import { sleep } from './retry.js';
import type { Schema } from './validate.js';

/** What object transfers need of the client: its transports and its retry settings. */
export interface ObjectsContext {
  rest: RestTransport;
  /** A JSON request through the client (closed-client check, retries of idempotent requests). */
  request: <T>(req: RestRequest<T>) => Promise<T>;
  assertOpen: () => void;
  requestTimeoutMs: number;
  retry: { maxRetries: number; baseDelayMs: number; maxDelayMs: number };
}

/** Whether trying a transfer again may help: the network, a timeout, a 5xx, a rate limit. */
export function isRetryable(error: unknown): error is FxError {
  if (error instanceof ConnectionError) return error.code !== 'CLIENT_CLOSED';
  if (error instanceof TimeoutError || error instanceof RateLimitError) return true;
  return error instanceof ServerError && error.code !== 'BAD_RESPONSE';
}

/** Waits before retry `attempt` (0-based): the server's Retry-After when it gave one, else the SDK's backoff. */
export async function waitToRetry(ctx: ObjectsContext, attempt: number, error: FxError, signal: AbortSignal | undefined): Promise<void> {
  const asked = error instanceof RateLimitError ? error.retryAfterMs : undefined;
  const delay = asked ?? backoffDelay(attempt, { initialDelayMs: ctx.retry.baseDelayMs, maxDelayMs: ctx.retry.maxDelayMs, jitter: 'equal' });
  await sleep(Math.min(delay, ctx.retry.maxDelayMs), signal);
}

/** A raw response's JSON body, checked against the protocol. */
export async function readJson<T>(res: Response, schema: Schema<T>, what: string): Promise<T> {
  let json: unknown;
  try {
    json = await res.json();
  } catch (cause) {
    // the body broke off, or is not JSON: either way the answer was not read
    throw new ConnectionError('CONNECTION_FAILED', `${what}: the answer could not be read`, { cause });
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const first = parsed.error.issues[0];
  throw new ServerError('BAD_RESPONSE', `${what} answered with a body that does not match the protocol: ${first?.message ?? 'invalid'}`, {
    status: res.status,
    details: parsed.error.issues,
  });
}
