import { createHash } from 'node:crypto';
import type { ObjectEncoding, ObjectRefInput } from '@fx/protocol';
import { ConnectionError, ObjectIntegrityError, ServerError, TimeoutError } from './errors.js';
import { isRetryable, waitToRetry, type ObjectsContext } from './object-transfer.js';

/** What the first answer says of an object's content, before its bytes are read. */
export interface ContentHead {
  encoding: ObjectEncoding;
  /** From `X-Fx-Sha256` (or the ETag), else the reference's. */
  sha256: string | undefined;
  size: number | undefined;
}

/** An object's content, opened: its head, and its bytes as they arrive (verified against sha256 at the end). */
export interface OpenContent {
  head: ContentHead;
  chunks: AsyncGenerator<Buffer, void, undefined>;
}

/** The body's chunks, each awaited at most `idleMs`; a stall or a broken connection throws (for the caller to resume). */
async function* bodyOf(res: Response, idleMs: number, what: string): AsyncGenerator<Buffer, void, undefined> {
  if (!res.body) return;
  const reader = res.body.getReader();
  let done = false;
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`${what}: no bytes for ${idleMs} ms`)), idleMs);
      });
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await Promise.race([reader.read(), stalled]);
      } catch (cause) {
        if (cause instanceof TimeoutError) throw cause;
        throw new ConnectionError('CONNECTION_FAILED', `${what}: the connection broke while reading`, { cause });
      } finally {
        clearTimeout(timer);
      }
      if (next.done) {
        done = true;
        return;
      }
      yield Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    }
  } finally {
    // a consumer that stopped early, or a stall: free the connection
    if (!done) await reader.cancel().catch(() => undefined);
  }
}

const shaOf = (res: Response): string | undefined => {
  const header = res.headers.get('x-fx-sha256') ?? res.headers.get('etag')?.replace(/^(W\/)?"|"$/g, '');
  return header && /^[0-9a-f]{64}$/.test(header) ? header : undefined;
};

/**
 * Opens `GET /v1/objects/:id/content`. The bytes stream through once; a connection that breaks or
 * stalls is resumed with `Range: bytes=<received>-` (up to the client's retries in a row), and the
 * whole is checked against the sha256 (and size) at the end: an ObjectIntegrityError instead of
 * corrupt data.
 */
export async function openContent(ctx: ObjectsContext, ref: ObjectRefInput, signal: AbortSignal | undefined): Promise<OpenContent> {
  const path = `/v1/objects/${ref.id}/content`;
  const what = `GET ${path}`;
  const fetchFrom = async (from: number): Promise<Response> => {
    ctx.assertOpen();
    return ctx.rest.send({ method: 'GET', path, headers: from > 0 ? { range: `bytes=${from}-` } : {}, signal });
  };
  let first: Response | undefined;
  for (let failures = 0; !first;) {
    try {
      first = await fetchFrom(0);
    } catch (error) {
      if (signal?.aborted || !isRetryable(error) || failures >= ctx.retry.maxRetries) throw error;
      await waitToRetry(ctx, failures++, error, signal);
    }
  }
  const served = shaOf(first);
  if (ref.sha256 && served && served !== ref.sha256) {
    await first.body?.cancel().catch(() => undefined);
    throw new ObjectIntegrityError(`object ${ref.id} is served as sha256 ${served}, not the ${ref.sha256} its reference names`, ref.sha256, served);
  }
  const length = Number(first.headers.get('content-length') ?? NaN);
  const head: ContentHead = {
    encoding: ref.encoding ?? ((first.headers.get('content-type') ?? '').startsWith('application/json') ? 'json' : 'bytes'),
    sha256: ref.sha256 ?? served,
    size: ref.size ?? (Number.isInteger(length) ? length : undefined),
  };

  async function* chunks(): AsyncGenerator<Buffer, void, undefined> {
    const hash = createHash('sha256');
    let received = 0;
    let failures = 0;
    let res: Response | undefined = first;
    for (;;) {
      try {
        if (!res) {
          if (head.size !== undefined && received >= head.size) break;
          res = await fetchFrom(received);
          if (res.status !== 206) {
            await res.body?.cancel().catch(() => undefined);
            throw new ServerError('BAD_RESPONSE', `${what} answered ${res.status} to a Range request: the download cannot resume`, { status: res.status });
          }
        }
        for await (const chunk of bodyOf(res, ctx.requestTimeoutMs, what)) {
          hash.update(chunk);
          received += chunk.length;
          failures = 0;
          yield chunk;
        }
        break;
      } catch (error) {
        res = undefined;
        if (signal?.aborted) throw signal.reason;
        if (!isRetryable(error) || failures >= ctx.retry.maxRetries) throw error;
        await waitToRetry(ctx, failures++, error, signal);
      }
    }
    const digest = hash.digest('hex');
    if (head.sha256 !== undefined && digest !== head.sha256) {
      throw new ObjectIntegrityError(`object ${ref.id}: the ${received} bytes read have sha256 ${digest}, not ${head.sha256}`, head.sha256, digest);
    }
    if (head.size !== undefined && received !== head.size) {
      throw new ObjectIntegrityError(`object ${ref.id}: ${received} bytes were read of ${head.size}`, head.sha256, digest);
    }
  }
  return { head, chunks: chunks() };
}
