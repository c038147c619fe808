import { createHash, type Hash } from 'node:crypto';
import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type { ObjectRef } from '@fx/protocol';
import { FailureCount, ObjectHttp, ObjectTransferError, asTransferError, readText, refusal } from './object.http.js';

/** Bytes hashed so far of the partial file (always equal to what is on disk once an attempt ends). */
interface Progress {
  hash: Hash;
  bytes: number;
}

/**
 * Downloads an object's content into `partPath` (`GET /v1/objects/:id/content`), resuming what is
 * already there with `Range: bytes=N-` (after a cut connection, or a restart of the agent), retrying
 * what can be retried with backoff, and checking the whole against the reference's size and sha256.
 * Resolves once `partPath` holds exactly the object; rejects with an ObjectTransferError (or the
 * signal's reason) otherwise. A partial that turns out wrong is discarded and fetched again.
 */
export async function downloadObject(http: ObjectHttp, ref: ObjectRef, partPath: string, signal?: AbortSignal): Promise<void> {
  const progress: Progress = { hash: createHash('sha256'), bytes: 0 };
  const failures = new FailureCount();
  let wrongContent = 0;
  for (;;) {
    const before = progress.bytes;
    try {
      await hashPartial(partPath, progress, ref.size);
      if (progress.bytes < ref.size || ref.size === 0) await fetchRest(http, ref, partPath, progress, signal);
      const digest = progress.hash.copy().digest('hex');
      if (progress.bytes === ref.size && digest === ref.sha256) return;
      await unlink(partPath).catch(() => undefined);
      restart(progress);
      // The same wrong bytes twice is the server's copy, not the network: no use asking a third time.
      if (++wrongContent >= 2)
        throw new ObjectTransferError(`object ${ref.id}: the server sent content whose sha256 is not ${ref.sha256} twice; giving up`, false);
      throw new ObjectTransferError(`object ${ref.id}: the content received does not match its sha256 ${ref.sha256}`, true);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (!(error instanceof ObjectTransferError) || !error.retryable) throw error;
      if (progress.bytes > before) failures.reset();
      if (failures.add(error, http.retry.attempts))
        throw new ObjectTransferError(`${error.message} (gave up after ${failures.failures} attempts)`, false, error.status, error.code);
      await http.pause(failures.row, signal);
    }
  }
}

/** Brings `progress` in line with the partial file on disk, hashing what it has not seen yet. */
async function hashPartial(partPath: string, progress: Progress, size: number): Promise<void> {
  const onDisk = await stat(partPath).then(
    (s) => s.size,
    () => 0,
  );
  if (onDisk > size) await unlink(partPath).catch(() => undefined);
  if (onDisk > size || onDisk < progress.bytes) restart(progress);
  if (onDisk > size || onDisk === progress.bytes) return;
  const file = await open(partPath, 'r');
  try {
    for await (const chunk of file.createReadStream({ start: progress.bytes, end: onDisk - 1, autoClose: false })) {
      progress.hash.update(chunk as Buffer);
      progress.bytes += (chunk as Buffer).length;
    }
  } finally {
    await file.close();
  }
}

function restart(progress: Progress): void {
  progress.hash = createHash('sha256');
  progress.bytes = 0;
}

/** One GET from `progress.bytes` on, appended to the partial file (`progress` follows what is on disk, also when it throws). */
async function fetchRest(http: ObjectHttp, ref: ObjectRef, partPath: string, progress: Progress, signal?: AbortSignal): Promise<void> {
  const path = `/v1/objects/${ref.id}/content`;
  const from = progress.bytes;
  const res = await http.request('GET', path, { headers: from > 0 ? { range: `bytes=${from}-` } : {}, ...(signal ? { signal } : {}) });
  const status = res.statusCode ?? 0;
  if (status === 416) {
    // Nothing past what we hold: the partial is as long as the object (checked by the caller), or wrong.
    res.resume();
    return;
  }
  if (status !== 200 && status !== 206) {
    const text = await readText(res, 64 * 1024, signal).catch(() => '');
    const error = refusal('GET', path, status, text);
    if (status === 404 || status === 403 || status === 401) {
      throw new ObjectTransferError(
        `object ${ref.id} is not available to this endpoint (deleted, expired, or no task leased to it refers to it): ${error.message}`,
        false,
        status,
        error.code,
      );
    }
    throw error;
  }
  let start = from;
  if (status === 200 && from > 0) {
    // The server sent the whole object: start over.
    start = 0;
    restart(progress);
  } else if (status === 206) {
    const range = /^bytes (\d+)-/.exec(res.headers['content-range'] ?? '');
    if (!range || Number(range[1]) !== from) {
      res.destroy();
      throw new ObjectTransferError(`object ${ref.id}: the server answered range ${from}- with ${res.headers['content-range'] ?? 'no Content-Range'}`, true);
    }
  }
  // Collect before the file is open: what arrives meanwhile must not be lost if the connection is then cut.
  const body = new BodyReader(res);
  const file = await open(partPath, start === 0 ? 'w' : 'r+', 0o600).catch((error: unknown) => {
    body.stop();
    throw error;
  });
  try {
    await appendBody(body, file, progress, ref);
  } catch (error) {
    body.stop();
    throw asTransferError(error, signal);
  } finally {
    await file.close();
  }
  // A connection closed early ends the body without an error: what is missing is fetched on the next attempt.
  if (!res.complete) throw new ObjectTransferError(`object ${ref.id}: the connection closed after ${progress.bytes} of ${ref.size} bytes`, true);
}

/** Writes the body at `progress.bytes` onwards, hashing each chunk once it is on disk. Never past the object's size. */
async function appendBody(body: BodyReader, file: FileHandle, progress: Progress, ref: ObjectRef): Promise<void> {
  for (let data = await body.next(); data; data = await body.next()) {
    if (progress.bytes + data.length > ref.size) throw new ObjectTransferError(`object ${ref.id}: the server sent more than its ${ref.size} bytes`, true);
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await file.write(data, written, data.length - written, progress.bytes + written);
      written += bytesWritten;
    }
    progress.hash.update(data);
    progress.bytes += data.length;
  }
}

/** Bytes taken off a response and not yet written, past which the response is paused (TCP pushes back). */
const HOLD_BYTES = 1024 * 1024;

/**
 * A response's body, chunk by chunk, that keeps every byte that arrived before the connection failed.
 * (A stream's async iterator drops what it still buffers once the stream is destroyed, so a cut
 * connection would lose received bytes, and the resumed request would move them again.) Each chunk is
 * taken off the response as it is emitted; the response is paused while HOLD_BYTES wait to be written.
 */
export class BodyReader {
  private readonly chunks: Buffer[] = [];
  private held = 0;
  private done = false;
  private failure: unknown;
  private wake: () => void = () => undefined;

  constructor(private readonly res: IncomingMessage) {
    res.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.held += chunk.length;
      if (this.held >= HOLD_BYTES) res.pause();
      this.wake();
    });
    res.once('end', () => this.finish());
    res.once('close', () => this.finish());
    res.once('error', (error) => this.finish(error));
  }

  /** The next chunk; null at the end; throws the response's error once every chunk before it was taken. */
  async next(): Promise<Buffer | null> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk) {
        this.held -= chunk.length;
        if (this.held < HOLD_BYTES && this.res.isPaused() && !this.done) this.res.resume();
        return chunk;
      }
      if (this.failure !== undefined) throw this.failure;
      if (this.done) return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** The caller gives up on the body: the connection is not reused. */
  stop(): void {
    if (!this.res.complete) this.res.destroy();
  }

  private finish(error?: unknown): void {
    if (error !== undefined && this.failure === undefined) this.failure = error;
    this.done = true;
    this.wake();
  }
}
