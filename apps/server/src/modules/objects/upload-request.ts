import type { IncomingMessage } from 'node:http';
import type { LongRequests } from '../../common/long-requests.js';

/**
 * Runs a handler that streams the request body, exempt from the whole-request deadline while it reads
 * (the handler bounds it by idleness instead). When it fails with body left unread, the exception
 * filter answers with `Connection: close`.
 */
export async function streamUpload<T>(req: IncomingMessage, longRequests: LongRequests, handler: () => Promise<T>): Promise<T> {
  const done = longRequests.exempt(req);
  try {
    return await handler();
  } finally {
    done();
  }
}
