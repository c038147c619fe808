import { ErrorBody, backoffDelay } from '@fx/protocol';
import { parseRetryAfter, sleep as realSleep } from './retry.js';
import { ConnectionError, FxError, ServerError, TimeoutError, errorFromResponse } from './errors.js';
import type { Schema } from './validate.js';

export interface RestTransportOptions {
  /** Server base url without a trailing slash; paths (`/v1/...`) are appended to it. */
  baseUrl: string;
  token: string;
  requestTimeoutMs: number;
  maxRetries: number;
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  fetch: typeof fetch;
  /** Seam for tests: how the transport waits between attempts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface RestRequest<T> {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Starts with `/v1/`. */
  path: string;
  /** A value to JSON-encode, or a body the caller already encoded. */
  body?: unknown;
  encodedBody?: string;
  /** Validates a JSON response; absent when the answer has no body (204). */
  response?: Schema<T>;
  /**
   * Whether repeating the request is harmless, so network failures, timeouts and 5xx may be retried.
   * Defaults to true for GET. 429 and 503 are retried regardless: by contract they were not accepted
   * (except 429 QUOTA_EXCEEDED, which no short wait cures: thrown at once as QuotaExceededError).
   */
  idempotent?: boolean;
  signal?: AbortSignal | undefined;
  /** Added to the request timeout: how long the server may hold this request on purpose (a long-poll). */
  serverWaitMs?: number;
}

/** One raw HTTP exchange (object bytes), sent once: the caller decides what a failure means for its transfer. */
export interface RawRequest {
  method: 'GET' | 'PUT' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  signal?: AbortSignal | undefined;
  /** How long the response's headers may take; the body is the caller's to time. */
  timeoutMs?: number;
}

/** Statuses that say "not accepted, come back later": safe to repeat for any method. */
const RETRY_ANY = new Set([429, 503]);
/** Statuses worth repeating only when repeating is harmless. */
const RETRY_IDEMPOTENT = new Set([500, 502, 504]);

/** JSON over fetch with the bearer token, timeouts, retries and error mapping. */
export class RestTransport {
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(private readonly options: RestTransportOptions) {
    this.sleep = options.sleep ?? realSleep;
  }

  async request<T>(req: RestRequest<T>): Promise<T> {
    const idempotent = req.idempotent ?? req.method === 'GET';
    const body = req.encodedBody ?? (req.body === undefined ? undefined : JSON.stringify(req.body));
    const { maxRetries, retryBaseDelayMs, retryMaxDelayMs } = this.options;

    for (let attempt = 0; ; attempt++) {
      const canRetry = attempt < maxRetries;
      // Throws only for the caller's own abort, which is theirs and goes back untouched.
      const outcome = await this.attempt(req, body);
      if ('value' in outcome) return outcome.value;

      const { error } = outcome;
      const retryable = outcome.retryable && (idempotent || (error.status !== undefined && RETRY_ANY.has(error.status)));
      if (!retryable || !canRetry) throw error;
      if (outcome.retryAfterMs !== undefined && outcome.retryAfterMs > retryMaxDelayMs) throw error;
      const delay = outcome.retryAfterMs ?? backoffDelay(attempt, { initialDelayMs: retryBaseDelayMs, maxDelayMs: retryMaxDelayMs, jitter: 'equal' });
      await this.sleep(delay, req.signal);
    }
  }

  /**
   * Sends one raw request with the bearer token and resolves with the response once its headers
   * arrive (2xx only). A non-2xx answer becomes the matching FxError (`retryable` on it says whether
   * trying again may help); a network failure or a timeout a ConnectionError or TimeoutError.
   */
  async send(req: RawRequest): Promise<Response> {
    const timeoutMs = req.timeoutMs ?? this.options.requestTimeoutMs;
    const headersArrived = new AbortController();
    const timer = setTimeout(() => headersArrived.abort(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
    const signal = req.signal ? AbortSignal.any([req.signal, headersArrived.signal]) : headersArrived.signal;
    const what = `${req.method} ${req.path}`;
    let res: Response;
    try {
      const headers: Record<string, string> = { authorization: `Bearer ${this.options.token}`, ...req.headers };
      res = await this.options.fetch(`${this.options.baseUrl}${req.path}`, { method: req.method, headers, body: req.body, signal });
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason;
      if (headersArrived.signal.aborted) throw new TimeoutError(`${what} got no response within ${timeoutMs} ms`, { cause: err });
      throw new ConnectionError('CONNECTION_FAILED', `${what} failed: could not reach ${this.options.baseUrl}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    let errorBody: ErrorBody | undefined;
    try {
      const parsed = ErrorBody.safeParse(JSON.parse(text));
      if (parsed.success) errorBody = parsed.data;
    } catch {
      // not an FX error body: the status decides
    }
    const snippet = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    throw errorFromResponse(res.status, errorBody, {
      retryAfterMs: parseRetryAfter(res.headers.get('retry-after')),
      fallbackMessage: `${what} answered HTTP ${res.status}${snippet ? `: ${snippet}` : ''}`,
    });
  }

  private async attempt<T>(
    req: RestRequest<T>,
    body: string | undefined,
  ): Promise<{ value: T } | { error: FxError; retryable: boolean; retryAfterMs?: number }> {
    const timeout = AbortSignal.timeout(this.options.requestTimeoutMs + (req.serverWaitMs ?? 0));
    const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
    const what = `${req.method} ${req.path}`;
    let status: number;
    let text: string;
    let retryAfterHeader: string | null;
    try {
      const headers: Record<string, string> = { authorization: `Bearer ${this.options.token}`, accept: 'application/json' };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await this.options.fetch(`${this.options.baseUrl}${req.path}`, { method: req.method, headers, body, signal });
      status = res.status;
      retryAfterHeader = res.headers.get('retry-after');
      text = await res.text();
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason;
      if (timeout.aborted) {
        return {
          error: new TimeoutError(`${what} got no response within ${this.options.requestTimeoutMs + (req.serverWaitMs ?? 0)} ms`, { cause: err }),
          retryable: true,
        };
      }
      return { error: new ConnectionError('CONNECTION_FAILED', `${what} failed: could not reach ${this.options.baseUrl}`, { cause: err }), retryable: true };
    }

    if (status >= 200 && status < 300) {
      if (!req.response) return { value: undefined as T };
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (err) {
        return { error: new ServerError('BAD_RESPONSE', `${what} answered ${status} with a body that is not JSON`, { status, cause: err }), retryable: false };
      }
      const parsed = req.response.safeParse(json);
      if (!parsed.success) {
        const first = parsed.error.issues[0];
        const where = first && first.path.length ? ` at ${first.path.map(String).join('.')}` : '';
        return {
          error: new ServerError('BAD_RESPONSE', `${what} answered with a body that does not match the protocol${where}: ${first?.message ?? 'invalid'}`, {
            status,
            details: parsed.error.issues,
          }),
          retryable: false,
        };
      }
      return { value: parsed.data };
    }

    let errorBody: ErrorBody | undefined;
    try {
      const parsed = ErrorBody.safeParse(JSON.parse(text));
      if (parsed.success) errorBody = parsed.data;
    } catch {
      // A proxy's HTML page, say: the status still tells us what happened.
    }
    const retryAfterMs = parseRetryAfter(retryAfterHeader);
    const snippet = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    const error = errorFromResponse(status, errorBody, {
      retryAfterMs,
      fallbackMessage: `${what} answered HTTP ${status}${snippet ? `: ${snippet}` : ''}`,
    });
    // a quota is not "come back in a second": it frees up only as the user's tasks finish
    const retryable = (RETRY_ANY.has(status) || RETRY_IDEMPOTENT.has(status)) && errorBody?.code !== 'QUOTA_EXCEEDED';
    return { error, retryable, ...(retryAfterMs !== undefined && retryable ? { retryAfterMs } : {}) };
  }
}
