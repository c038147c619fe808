import { createHash } from 'node:crypto';
import { CreateUploadRequest, ObjectInfo, UPLOAD_OFFSET_HEADER, UploadInfo, Uuid, type ObjectEncoding } from '@fx/protocol';
import type { PutOptions } from './client.options.js';
import { ConflictError, ObjectIntegrityError, ObjectUploadError, ValidationError } from './errors.js';
import { assertFaithfulJson } from './json-faithful.js';
import { isRetryable, readJson, waitToRetry, type ObjectsContext } from './object-transfer.js';
import { checkInput } from './validate.js';

/** 8 MiB: few requests for a large object, little held in memory, little sent twice after a dropped connection. */
export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;
/** A part must move at least this fast (bytes per second) before its PUT counts as stalled. */
const MIN_PART_RATE = 256 * 1024;

/** What `put` was given, sorted: bytes at hand (a value's JSON, a Buffer) or a stream read as it goes. */
type Source = { kind: 'bytes'; bytes: Uint8Array; encoding: ObjectEncoding } | { kind: 'stream'; chunks: AsyncIterable<unknown>; encoding: ObjectEncoding };

const isWebStream = (v: object): v is ReadableStream<unknown> => typeof (v as ReadableStream).getReader === 'function';

/** Sorts `put`'s data: bytes and streams are stored as they are; any other value as its JSON (encoding json). */
export function sourceOf(data: unknown, encoding: ObjectEncoding | undefined): Source {
  if (data instanceof Uint8Array) return { kind: 'bytes', bytes: data, encoding: encoding ?? 'bytes' };
  if (data instanceof ArrayBuffer) return { kind: 'bytes', bytes: new Uint8Array(data), encoding: encoding ?? 'bytes' };
  if (typeof data === 'object' && data !== null && (Symbol.asyncIterator in data || isWebStream(data))) {
    return { kind: 'stream', chunks: data as AsyncIterable<unknown>, encoding: encoding ?? 'bytes' };
  }
  if (encoding === 'bytes') {
    if (typeof data === 'string') return { kind: 'bytes', bytes: Buffer.from(data, 'utf8'), encoding };
    throw new ValidationError('VALIDATION_FAILED', 'encoding "bytes" takes a Buffer, a Uint8Array, a stream or a string; other values are stored as JSON');
  }
  assertFaithfulJson(data, 'data');
  return { kind: 'bytes', bytes: Buffer.from(JSON.stringify(data), 'utf8'), encoding: 'json' };
}

/** A stream's chunks as bytes (strings as UTF-8), whatever kind of stream it is. */
async function* bytesOf(chunks: AsyncIterable<unknown> | ReadableStream<unknown>): AsyncGenerator<Uint8Array> {
  const iterable: AsyncIterable<unknown> =
    Symbol.asyncIterator in chunks
      ? chunks
      : (async function* () {
          const reader = (chunks as ReadableStream<unknown>).getReader();
          try {
            for (;;) {
              const { done, value } = await reader.read();
              if (done) return;
              yield value;
            }
          } finally {
            reader.releaseLock();
          }
        })();
  for await (const chunk of iterable) {
    if (typeof chunk === 'string') yield Buffer.from(chunk, 'utf8');
    else if (chunk instanceof Uint8Array) yield chunk;
    else
      throw new ValidationError(
        'VALIDATION_FAILED',
        `the stream gave a chunk that is not bytes (${typeof chunk}); put streams of Buffers, Uint8Arrays or strings`,
      );
  }
}

/** Marks an error that came from the caller's data rather than from the transfer. */
class SourceFailure {
  constructor(readonly error: unknown) {}
}

/**
 * One resumable upload (POST /v1/objects/uploads, PUT parts at `Upload-Offset`, complete). At most one
 * part is held in memory; a part that fails on the way is resumed from the offset the server reports.
 */
export class ObjectUpload {
  private readonly hash = createHash('sha256');
  private uploadId: string | undefined;
  /** Bytes the server holds. */
  private held = 0;

  constructor(
    private readonly ctx: ObjectsContext,
    private readonly options: PutOptions,
  ) {}

  async run(source: Source): Promise<ObjectInfo> {
    const { signal } = this.options;
    const partBytes = this.options.partBytes ?? DEFAULT_PART_BYTES;
    if (!Number.isInteger(partBytes) || partBytes < 1)
      throw new ValidationError('VALIDATION_FAILED', `partBytes must be a whole number of bytes, not ${partBytes}`);
    const total = source.kind === 'bytes' ? source.bytes.length : undefined;
    const upload = await this.open(source, total);
    this.uploadId = upload.uploadId;
    this.held = upload.offset;
    this.options.onUpload?.({ uploadId: upload.uploadId, offset: upload.offset });
    if (total !== undefined && upload.offset > total) {
      throw this.failure(`the upload holds ${upload.offset} bytes, more than the ${total} given: it is not an upload of this data`, undefined);
    }

    const part = Buffer.allocUnsafe(Math.min(partBytes, total ?? partBytes));
    let fill = 0;
    let read = 0;
    const skip = upload.offset;
    const chunks = source.kind === 'bytes' ? [source.bytes] : bytesOf(source.chunks);
    try {
      for await (let chunk of this.guard(chunks)) {
        this.hash.update(chunk);
        if (read < skip) {
          // already on the server (a resumed upload): hashed, not sent
          const drop = Math.min(skip - read, chunk.length);
          read += drop;
          chunk = chunk.subarray(drop);
        }
        while (chunk.length > 0) {
          const n = Math.min(part.length - fill, chunk.length);
          part.set(chunk.subarray(0, n), fill);
          fill += n;
          read += n;
          chunk = chunk.subarray(n);
          if (fill === part.length) {
            await this.sendPart(part, total);
            fill = 0;
          }
        }
      }
    } catch (error) {
      if (!(error instanceof SourceFailure)) throw error;
      signal?.throwIfAborted();
      const cause = error.error;
      throw this.failure(`the data failed after ${read} bytes (${cause instanceof Error ? cause.message : String(cause)})`, cause);
    }
    if (read < skip) throw this.failure(`the data has ${read} bytes, fewer than the ${skip} the upload holds already: it is not the same data`, undefined);
    if (fill > 0) await this.sendPart(part.subarray(0, fill), total);
    return this.complete(read);
  }

  /** Iterates the caller's data, telling its failures apart from the transfer's. */
  private async *guard(chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    const it = (Symbol.asyncIterator in chunks ? chunks[Symbol.asyncIterator]() : chunks[Symbol.iterator]()) as AsyncIterator<Uint8Array>;
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await it.next();
      } catch (error) {
        throw new SourceFailure(error);
      }
      if (next.done) return;
      yield next.value;
    }
  }

  private async open(source: Source, total: number | undefined): Promise<UploadInfo> {
    const { name, ttlSeconds, uploadId, signal } = this.options;
    if (uploadId !== undefined) {
      const id = checkInput(Uuid, uploadId, 'uploadId');
      return this.ctx.request({ method: 'GET', path: `/v1/objects/uploads/${id}`, response: UploadInfo, signal });
    }
    const sha256 = source.kind === 'bytes' ? createHash('sha256').update(source.bytes).digest('hex') : undefined;
    const body = checkInput(
      CreateUploadRequest,
      { encoding: source.encoding, ...(name !== undefined ? { name } : {}), ...(ttlSeconds !== undefined ? { ttlSeconds } : {}), size: total, sha256 },
      'put options',
    );
    // Repeated after a network failure (a keep-alive socket the server had just closed, say): at worst an
    // upload nobody sends to is left, which the server discards when it expires.
    return this.ctx.request({ method: 'POST', path: '/v1/objects/uploads', body, response: UploadInfo, signal, idempotent: true });
  }

  /** PUTs `data` at the server's offset, resuming from what it reports after a failure; returns when it holds all of it. */
  private async sendPart(data: Uint8Array, total: number | undefined): Promise<void> {
    const { signal } = this.options;
    const start = this.held;
    const end = start + data.length;
    const path = `/v1/objects/uploads/${this.uploadId!}`;
    let failures = 0;
    while (this.held < end) {
      const body = data.subarray(this.held - start);
      try {
        const res = await this.ctx.rest.send({
          method: 'PUT',
          path,
          headers: { 'content-type': 'application/octet-stream', [UPLOAD_OFFSET_HEADER]: String(this.held) },
          body,
          signal,
          timeoutMs: this.ctx.requestTimeoutMs + Math.ceil(body.length / MIN_PART_RATE) * 1000,
        });
        const info = await readJson(res, UploadInfo, `PUT ${path}`);
        this.moveTo(info.offset, start, end);
        failures = 0;
        this.options.onProgress?.({ bytes: this.held, totalBytes: total });
        continue;
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        const reported = error instanceof ConflictError ? (error.details as { offset?: unknown } | undefined)?.offset : undefined;
        if (typeof reported === 'number' && failures++ < this.ctx.retry.maxRetries) {
          this.moveTo(reported, start, end);
          continue;
        }
        if (!isRetryable(error) || failures >= this.ctx.retry.maxRetries) {
          throw this.failure(`a part at offset ${this.held} failed: ${error instanceof Error ? error.message : String(error)}`, error);
        }
        await waitToRetry(this.ctx, failures++, error, signal);
      }
      // where the server got to before the failure: only the rest of the part is sent again
      try {
        const now = await this.ctx.request({ method: 'GET', path, response: UploadInfo, signal });
        this.moveTo(now.offset, start, end);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        throw this.failure(`the upload's offset could not be read after a failed part: ${error instanceof Error ? error.message : String(error)}`, error);
      }
    }
  }

  /** Takes the server's word for its offset, which must lie within the part the SDK still holds. */
  private moveTo(offset: number, start: number, end: number): void {
    if (offset < start || offset > end) {
      throw this.failure(`the server holds ${offset} bytes of the upload, outside the part being sent (${start} to ${end})`, undefined);
    }
    this.held = offset;
  }

  private async complete(size: number): Promise<ObjectInfo> {
    const sha256 = this.hash.digest('hex');
    const path = `/v1/objects/uploads/${this.uploadId!}/complete`;
    let info: ObjectInfo;
    try {
      // repeated after a network failure: the server answers a completed upload with the object it became
      info = await this.ctx.request({ method: 'POST', path, body: { sha256 }, response: ObjectInfo, signal: this.options.signal, idempotent: true });
    } catch (error) {
      if (this.options.signal?.aborted) throw this.options.signal.reason;
      throw this.failure(`the upload could not be completed: ${error instanceof Error ? error.message : String(error)}`, error);
    }
    if (info.sha256 !== sha256 || info.size !== size) {
      // the server holds other bytes than were read here (another source under the same upload id): not to be used
      await this.ctx.request({ method: 'DELETE', path: `/v1/objects/${info.id}` }).catch(() => undefined);
      throw new ObjectIntegrityError(
        `the server stored ${info.size} bytes of sha256 ${info.sha256} for the ${size} bytes of sha256 ${sha256} that were sent`,
        sha256,
        info.sha256,
      );
    }
    return info;
  }

  private failure(why: string, cause: unknown): ObjectUploadError {
    if (cause instanceof ObjectUploadError) return cause;
    const resume = this.uploadId ? `; the server keeps ${this.held} bytes: put the same data with { uploadId: '${this.uploadId}' } to send the rest` : '';
    return new ObjectUploadError(`put failed: ${why}${resume}`, this.uploadId, this.held, cause);
  }
}
