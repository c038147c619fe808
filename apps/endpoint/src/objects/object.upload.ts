import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { ObjectInfo, UPLOAD_OFFSET_HEADER, UploadInfo, type ObjectEncoding } from '@fx/protocol';
import { FailureCount, ObjectHttp, ObjectTransferError, asTransferError, readText, refusal } from './object.http.js';

/** Largest part of one PUT: a part cut short is resent from where the server says it stopped. */
export const UPLOAD_PART_BYTES = 64 * 1024 * 1024;

/** Bytes to upload: their size and a way to read them from any offset. */
export interface UploadSource {
  size: number;
  /** A stream of bytes [start, end). */
  read(start: number, end: number): Readable;
}

export function bufferSource(data: Buffer): UploadSource {
  return { size: data.length, read: (start, end) => Readable.from([data.subarray(start, end)]) };
}

/** The first `size` bytes of an open file descriptor (kept open: the caller closes it). */
export function fileSource(fd: number, size: number): UploadSource {
  return {
    size,
    read: (start, end) => (end > start ? createReadStream('', { fd, start, end: end - 1, autoClose: false }) : Readable.from([])),
  };
}

/** The sha256 of a source, read once. */
export async function hashSource(source: UploadSource, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of source.read(0, source.size)) {
    signal?.throwIfAborted();
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

export interface UploadRequest {
  /** The task whose result or named output this is (endpoint tokens may upload only for their own leased tasks). */
  taskId: string;
  encoding: ObjectEncoding;
  /** The task's outputName, or a named output's name. */
  name?: string;
}

/**
 * Stores bytes as an object through the resumable upload routes: `POST /v1/objects/uploads` (size and
 * sha256 declared, so the server checks quota and limits before a byte moves), `PUT` parts with
 * `Upload-Offset`, a `GET` to learn where to resume after a failure (or the offset of a 409), then
 * `POST …/complete`. Retryable failures back off; an attempt that moved bytes resets the count. A
 * server that dies mid-request is waited for: the claim its request held runs out (409 `writing` until
 * then), and a complete whose answer was lost is repeated (the server answers with the same object).
 */
export async function uploadObject(http: ObjectHttp, request: UploadRequest, source: UploadSource, signal?: AbortSignal): Promise<ObjectInfo> {
  const sha256 = await hashSource(source, signal);
  const created = await retrying(http, signal, () =>
    http.json('POST', '/v1/objects/uploads', (v) => UploadInfo.parse(v), {
      json: { taskId: request.taskId, encoding: request.encoding, size: source.size, sha256, ...(request.name !== undefined ? { name: request.name } : {}) },
      ...(signal ? { signal } : {}),
    }),
  );
  const path = `/v1/objects/uploads/${created.uploadId}`;
  let offset = created.offset;
  for (let round = 1; ; round++) {
    await sendFrom(http, path, source, offset, signal);
    try {
      return await retrying(http, signal, () => http.json('POST', `${path}/complete`, (v) => ObjectInfo.parse(v), { json: {}, ...(signal ? { signal } : {}) }));
    } catch (error) {
      // the server holds fewer bytes than were sent (it died before recording a part's end): the rest again
      const held = error instanceof ObjectTransferError && error.status === 409 ? offsetOf(error.details) : undefined;
      if (signal?.aborted || held === undefined || held >= source.size || round >= http.retry.attempts) throw error;
      offset = held;
    }
  }
}

/** PUTs the source from `offset` until the server holds all of it. */
async function sendFrom(http: ObjectHttp, path: string, source: UploadSource, from: number, signal?: AbortSignal): Promise<void> {
  let offset = from;
  const failures = new FailureCount();
  while (offset < source.size) {
    const before = offset;
    try {
      offset = await putPart(http, path, source, offset, signal);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      // the server holds another offset than this part started at (a retryable 409 is `writing`: waited out below)
      if (error instanceof ObjectTransferError && error.status === 409 && !error.retryable && typeof offsetOf(error.details) === 'number') {
        offset = offsetOf(error.details) as number;
        continue;
      }
      if (!(error instanceof ObjectTransferError) || !error.retryable) throw error;
      if (failures.add(error, http.retry.attempts))
        throw new ObjectTransferError(`${error.message} (gave up after ${failures.failures} attempts)`, false, error.status, error.code);
      await http.pause(failures.row, signal);
      offset = (await retrying(http, signal, () => http.json('GET', path, (v) => UploadInfo.parse(v), signal ? { signal } : {}))).offset;
      if (offset > before) failures.reset();
    }
  }
}

/** One PUT from `offset`; resolves with the server's new offset. */
async function putPart(http: ObjectHttp, path: string, source: UploadSource, offset: number, signal?: AbortSignal): Promise<number> {
  const end = Math.min(source.size, offset + UPLOAD_PART_BYTES);
  const res = await http.request('PUT', path, {
    headers: { 'content-type': 'application/octet-stream', 'content-length': end - offset, [UPLOAD_OFFSET_HEADER]: String(offset) },
    body: source.read(offset, end),
    ...(signal ? { signal } : {}),
  });
  const text = await readText(res, 1024 * 1024, signal);
  if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) > 299) throw refusal('PUT', path, res.statusCode, text);
  try {
    return UploadInfo.parse(JSON.parse(text)).offset;
  } catch (cause) {
    throw asTransferError(new ObjectTransferError(`the server's answer to PUT ${path} is not an UploadInfo: ${(cause as Error).message}`, true), signal);
  }
}

function offsetOf(details: unknown): number | undefined {
  const offset = (details as { offset?: unknown } | undefined)?.offset;
  return typeof offset === 'number' && Number.isInteger(offset) && offset >= 0 ? offset : undefined;
}

/** Runs `step` until it succeeds, fails for good, or has failed `attempts` times in a row (outages not counted). */
async function retrying<T>(http: ObjectHttp, signal: AbortSignal | undefined, step: () => Promise<T>): Promise<T> {
  const failures = new FailureCount();
  for (;;) {
    try {
      return await step();
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (!(error instanceof ObjectTransferError) || !error.retryable) throw error;
      if (failures.add(error, http.retry.attempts))
        throw new ObjectTransferError(`${error.message} (gave up after ${failures.failures} attempts)`, false, error.status, error.code);
      await http.pause(failures.row, signal);
    }
  }
}
