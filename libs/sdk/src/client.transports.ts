import { DEFAULT_LIMITS } from '@fx/protocol';
import type { ClientOptions } from './client.options.js';
import { ValidationError } from './errors.js';
import { ResultChannel } from './result-channel.js';
import { RestTransport } from './rest-transport.js';

/** What a Client talks through: REST for requests, one websocket for result waits. */
export interface ClientTransports {
  rest: RestTransport;
  channel: ResultChannel;
  maxRequestBytes: number;
  requestTimeoutMs: number;
  retry: { maxRetries: number; baseDelayMs: number; maxDelayMs: number };
}

/** Checks the client's url and token and builds its transports with the defaults filled in (see ClientOptions). */
export function createTransports(options: ClientOptions): ClientTransports {
  let base: URL;
  try {
    base = new URL(options.url);
  } catch (cause) {
    throw new ValidationError('VALIDATION_FAILED', `url is not a valid URL: ${String(options.url)}`, { cause });
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new ValidationError('VALIDATION_FAILED', `url must be http:// or https://, got ${base.protocol}`);
  }
  if (typeof options.token !== 'string' || options.token.length === 0) {
    throw new ValidationError('VALIDATION_FAILED', 'token must be a non-empty string');
  }
  const baseUrl = `${base.origin}${base.pathname.replace(/\/+$/, '')}`;
  const wsUrl = new URL(`${baseUrl}/v1/ws/client`);
  wsUrl.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';

  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const retry = { maxRetries: options.maxRetries ?? 3, baseDelayMs: options.retryBaseDelayMs ?? 250, maxDelayMs: options.retryMaxDelayMs ?? 30_000 };
  const rest = new RestTransport({
    baseUrl,
    token: options.token,
    requestTimeoutMs,
    maxRetries: retry.maxRetries,
    retryBaseDelayMs: retry.baseDelayMs,
    retryMaxDelayMs: retry.maxDelayMs,
    fetch: options.fetch ?? globalThis.fetch,
  });
  const channel = new ResultChannel({
    url: wsUrl.toString(),
    token: options.token,
    reconnectBaseDelayMs: options.reconnectBaseDelayMs ?? 250,
    reconnectMaxDelayMs: options.reconnectMaxDelayMs ?? 10_000,
    connectTimeoutMs: requestTimeoutMs,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 30_000,
    resultCacheSize: options.resultCacheSize ?? 1_000,
  });
  return { rest, channel, maxRequestBytes: options.maxRequestBytes ?? DEFAULT_LIMITS.maxRequestBytes, requestTimeoutMs, retry };
}
