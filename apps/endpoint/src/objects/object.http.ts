import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { backoffDelay, type BackoffOptions } from '@fx/protocol';

/** Where the agent's object transfers go: the server it speaks to, with its endpoint token. */
export interface ObjectServer {
  /** The server's http(s) URL (the agent's `url`). */
  url: string;
  /** The endpoint token. */
  token: string;
}

/**
 * A transfer that failed. `retryable`: worth another try (the network, a 5xx, a server restarting);
 * otherwise the server refused for good (404: not there or not this endpoint's to read, 413: too large).
 */
export class ObjectTransferError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    readonly code?: string,
    readonly details?: unknown,
    /**
     * The server could not be reached or said it is not there for now (no answer, 502, 503, 504, or a
     * 409 saying another request still holds the upload): a restart or an outage, not a refusal. Such
     * failures do not count towards giving up: a result given up on would be lost, and the server takes
     * it once it is back.
     */
    readonly outage = false,
  ) {
    super(message);
    this.name = 'ObjectTransferError';
  }
}

/**
 * Counts failed attempts towards `retry.attempts`, leaving outages out (see ObjectTransferError.outage),
 * and says how long to wait before the next: the backoff of all failures in a row, outages included.
 */
export class FailureCount {
  private counted = 0;
  private inRow = 0;

  /** Records a failure; true when it is the one to give up at. */
  add(error: ObjectTransferError, attempts: number): boolean {
    this.inRow++;
    if (!error.outage) this.counted++;
    return this.counted >= attempts;
  }

  /** Progress was made: the counts start again. */
  reset(): void {
    this.counted = 0;
    this.inRow = 0;
  }

  get failures(): number {
    return this.counted;
  }

  get row(): number {
    return this.inRow;
  }
}

/** How transfers retry: attempts without progress, and the backoff between them. */
export interface TransferRetry {
  /** Failed attempts in a row (an attempt that moved bytes resets the count) before giving up. @default 5 */
  attempts?: number;
  /** @default { initialDelayMs: 250, maxDelayMs: 10000 } */
  backoff?: BackoffOptions;
}

export interface ObjectHttpOptions {
  /** A request silent this long (no byte either way) fails, retryably. @default 60000 */
  idleTimeoutMs?: number;
  retry?: TransferRetry;
}

export interface RequestOptions {
  headers?: OutgoingHttpHeaders;
  /** The body: JSON (sent as such), bytes, or a stream (with `content-length` in headers). */
  json?: unknown;
  body?: Buffer | Readable;
  signal?: AbortSignal;
}

/** The endpoint's HTTP client for `/v1/objects`: bearer token, keep-alive, idle timeout, typed refusals. */
export class ObjectHttp {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly idleTimeoutMs: number;
  readonly retry: Required<TransferRetry>;

  constructor(
    private readonly server: ObjectServer,
    options: ObjectHttpOptions = {},
  ) {
    this.base = new URL(server.url.replace(/\/+$/, '') + '/');
    const secure = this.base.protocol === 'https:';
    this.agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.retry = { attempts: options.retry?.attempts ?? 5, backoff: options.retry?.backoff ?? { initialDelayMs: 250, maxDelayMs: 10_000 } };
  }

  /** Sends one request; resolves with the response once its head arrives (any status). */
  request(method: string, path: string, options: RequestOptions = {}): Promise<IncomingMessage> {
    const url = new URL(path.replace(/^\/+/, ''), this.base);
    const json = options.json === undefined ? undefined : Buffer.from(JSON.stringify(options.json), 'utf8');
    const body = json ?? options.body;
    const headers: OutgoingHttpHeaders = {
      authorization: `Bearer ${this.server.token}`,
      accept: 'application/json, application/octet-stream',
      ...(json ? { 'content-type': 'application/json' } : {}),
      ...(Buffer.isBuffer(body) ? { 'content-length': body.length } : {}),
      ...options.headers,
    };
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = transport.request(url, { method, headers, agent: this.agent, ...(options.signal ? { signal: options.signal } : {}) }, resolve);
      req.setTimeout(this.idleTimeoutMs, () =>
        req.destroy(new ObjectTransferError(`no answer from ${url.origin} within ${this.idleTimeoutMs} ms`, true, undefined, undefined, undefined, true)),
      );
      req.on('error', (error) => reject(asTransferError(error, options.signal)));
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else pipeline(body, req).catch((error: unknown) => req.destroy(error as Error));
    });
  }

  /** A JSON request whose 2xx body is parsed by `parse`; anything else is an ObjectTransferError. */
  async json<T>(method: string, path: string, parse: (v: unknown) => T, options: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, options);
    const text = await readText(res, 1024 * 1024, options.signal);
    if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode > 299) throw refusal(method, path, res.statusCode, text);
    try {
      return parse(text === '' ? undefined : JSON.parse(text));
    } catch (cause) {
      throw new ObjectTransferError(`the server's answer to ${method} ${path} is not what the protocol says: ${(cause as Error).message}`, true);
    }
  }

  /** Waits before retry number `failures` (1 for the first), or rejects when `signal` fires first. */
  pause(failures: number, signal?: AbortSignal): Promise<void> {
    return sleep(backoffDelay(failures - 1, this.retry.backoff), signal);
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The error for a non-2xx answer, with the server's `{ code, message, details }` when it sent one. */
export function refusal(method: string, path: string, status: number | undefined, text: string): ObjectTransferError {
  let code: string | undefined;
  let message: string | undefined;
  let details: unknown;
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown; details?: unknown };
    if (typeof body.code === 'string') code = body.code;
    if (typeof body.message === 'string') message = body.message;
    details = body.details;
  } catch {
    // not JSON
  }
  const s = status ?? 0;
  // 409 `writing`: another request holds the upload, for at most the server's claim (one cut off by a
  // server crash holds it until then), so the same request succeeds later: an outage, not a refusal
  const writing = s === 409 && (details as { writing?: unknown } | undefined)?.writing === true;
  const retryable = s >= 500 || s === 408 || (s === 429 && code !== 'QUOTA_EXCEEDED') || writing;
  const said = message ?? (text.trim().slice(0, 200) || 'no explanation');
  const outage = s === 502 || s === 503 || s === 504 || writing;
  return new ObjectTransferError(`${method} ${path} was refused with HTTP ${s}: ${said}${code ? ` (${code})` : ''}`, retryable, s, code, details, outage);
}

/** Reads a (small) response body as text, refusing more than `max` bytes. */
export async function readText(res: IncomingMessage, max: number, signal?: AbortSignal): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res) {
      size += (chunk as Buffer).length;
      if (size > max) {
        res.destroy();
        throw new ObjectTransferError(`the server's answer is longer than ${max} bytes`, true);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    throw asTransferError(error, signal);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Network failures are retryable; an abort stays what it was (the caller's signal decides). */
export function asTransferError(error: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason ?? error;
  if (error instanceof ObjectTransferError) return error;
  const e = error as NodeJS.ErrnoException;
  return new ObjectTransferError(
    `the connection to the server failed: ${e.message ?? String(error)}${e.code ? ` (${e.code})` : ''}`,
    true,
    undefined,
    undefined,
    undefined,
    true,
  );
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
