import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LongRequests } from '../../common/long-requests.js';

/**
 * Runs a handler that streams the request body: exempt from the whole-request deadline while it reads
 * (the handler bounds it by idleness), and, when it fails with body left unread (a part refused before
 * or while it streamed), answered with `Connection: close`, so that Node does not read the rest of a
 * possibly huge body only to throw it away.
 */
export async function streamUpload<T>(req: IncomingMessage, res: ServerResponse, longRequests: LongRequests, handler: () => Promise<T>): Promise<T> {
  const done = longRequests.exempt(req);
  try {
    return await handler();
  } catch (e) {
    if (!req.readableEnded && !res.headersSent) res.setHeader('Connection', 'close');
    throw e;
  } finally {
    done();
  }
}
