import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, opendir, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';

/** How a part's bytes went to disk: all of them, or it stopped early (bytes past a limit, a dropped connection). */
export type PartOutcome = { kind: 'complete'; written: number } | { kind: 'too-large'; written: number } | { kind: 'aborted'; written: number; error?: Error };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The staging files of resumable uploads, `<root>/uploads/<uploadId>`, on the object store's path (so
 * any replica sharing it can take the next part). The database says how many bytes of a file are good
 * (object_uploads.offset_bytes); a part always starts by cutting the file back to that, so the bytes
 * of a part that was cut off by a crash are simply written again.
 */
export class UploadFiles {
  readonly dir: string;

  constructor(root: string) {
    this.dir = path.join(root, 'uploads');
  }

  pathOf(uploadId: string): string {
    if (!UUID.test(uploadId)) throw new Error(`"${uploadId.slice(0, 80)}" is not an upload id`);
    return path.join(this.dir, uploadId);
  }

  /**
   * Streams `source` into the upload's file from `offset`, at most `maxBytes` of it (what is sent past
   * that is not read: the caller answers 413 and closes the connection). Never holds more than one
   * chunk in memory. The bytes written are on disk (fsync) when this resolves, whatever the outcome.
   * `idleMs`: a source that sends nothing for that long is cut off (`aborted`).
   */
  async writePart(uploadId: string, offset: number, source: Readable, maxBytes: number, idleMs: number): Promise<PartOutcome> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const fh = await open(this.pathOf(uploadId), constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      await fh.truncate(offset);
      const outcome = await drain(source, fh, offset, maxBytes, idleMs);
      await fh.sync();
      return outcome;
    } finally {
      await fh.close();
    }
  }

  /**
   * The sha256 of the first `size` bytes of the upload's file (streamed, never held whole), after cutting
   * off anything past them. Throws when the file holds fewer.
   */
  async hash(uploadId: string, size: number): Promise<string> {
    const fh = await open(this.pathOf(uploadId), constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      const actual = (await fh.stat()).size;
      if (actual < size) throw new Error(`the upload's staging file holds ${actual} bytes, not the ${size} recorded`);
      if (actual > size) await fh.truncate(size);
      const hash = createHash('sha256');
      if (size > 0)
        for await (const chunk of fh.createReadStream({ start: 0, end: size - 1, autoClose: false, highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
      return hash.digest('hex');
    } finally {
      await fh.close();
    }
  }

  async remove(uploadId: string): Promise<void> {
    await unlink(this.pathOf(uploadId)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }

  /** Every staging file, with when it was last written (the collector removes those no upload row owns). */
  async *list(): AsyncIterable<{ uploadId: string; modifiedAt: Date }> {
    let dir;
    try {
      dir = await opendir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for await (const entry of dir) {
      if (!UUID.test(entry.name)) continue;
      const s = await stat(path.join(this.dir, entry.name)).catch(() => null);
      if (s) yield { uploadId: entry.name, modifiedAt: s.mtime };
    }
  }
}

/**
 * Copies `source` to `fh` at `offset`, one chunk at a time (the source is paused while a chunk is
 * written: backpressure without buffering). Stops reading at `maxBytes`, leaving the rest unread.
 */
function drain(source: Readable, fh: FileHandle, offset: number, maxBytes: number, idleMs: number): Promise<PartOutcome> {
  return new Promise((resolve) => {
    let written = 0;
    let writing = false;
    let stop: PartOutcome['kind'] | null = null;
    let ended = false;
    let settled = false;
    let failure: Error | undefined;
    let idle: NodeJS.Timeout | undefined;

    const finish = (kind: PartOutcome['kind']) => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      source.off('close', onClose);
      resolve(kind === 'aborted' ? { kind, written, ...(failure ? { error: failure } : {}) } : { kind, written });
    };
    // after the chunk being written (if any) is on disk
    const settle = () => {
      if (writing) return;
      if (stop) finish(stop);
      else if (ended) finish('complete');
    };
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => source.destroy(new Error(`no bytes arrived for ${idleMs} ms`)), idleMs);
      idle.unref();
    };
    const onData = (chunk: Buffer) => {
      if (stop || settled) return;
      armIdle();
      let part = chunk;
      if (written + part.length > maxBytes) {
        part = part.subarray(0, Math.max(0, maxBytes - written));
        stop = 'too-large';
        source.pause();
      }
      if (part.length === 0) return settle();
      writing = true;
      source.pause();
      fh.write(part, 0, part.length, offset + written).then(
        ({ bytesWritten }) => {
          written += bytesWritten;
          writing = false;
          if (!stop && !ended) source.resume();
          settle();
        },
        (e: Error) => {
          writing = false;
          failure = e;
          stop = 'aborted';
          settle();
        },
      );
    };
    const onEnd = () => {
      ended = true;
      settle();
    };
    const onError = (e: Error) => {
      failure ??= e;
      if (!ended) stop ??= 'aborted';
      settle();
    };
    // a connection that went away before the body ended
    const onClose = () => {
      if (!ended) stop ??= 'aborted';
      settle();
    };
    source.on('data', onData);
    source.on('end', onEnd);
    source.on('error', onError);
    source.on('close', onClose);
    armIdle();
    source.resume();
  });
}
