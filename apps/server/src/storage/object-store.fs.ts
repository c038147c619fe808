import { randomUUID } from 'node:crypto';
import { copyFile, link, mkdir, open, opendir, rename, stat, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ObjectMissingError, SHA256_HEX, type ObjectStore } from './object-store.js';

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;

/**
 * Blobs as files `<root>/blobs/<first two hex digits>/<sha256>` on a local or shared filesystem. Every
 * change is atomic (a hard link, or a copy renamed into place), so replicas sharing the path, or a crash
 * halfway, never leave a partial blob under a blob's name.
 */
export class FsObjectStore implements ObjectStore {
  readonly kind = 'fs' as const;
  private readonly blobs: string;

  constructor(readonly root: string) {
    this.blobs = path.join(root, 'blobs');
  }

  /** The blob's path; the name is checked, so no caller can make it point outside the store. */
  pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new Error(`"${sha256.slice(0, 80)}" is not a sha256`);
    return path.join(this.blobs, sha256.slice(0, 2), sha256);
  }

  async put(file: string, sha256: string): Promise<void> {
    const target = this.pathOf(sha256);
    await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    // The collector spares blobs written in the last hour whose row it cannot see yet (the row commits
    // after this): a fresh mtime on the bytes, whether they are new or deduplicated, is that mark.
    const now = new Date();
    try {
      await utimes(file, now, now);
      await link(file, target);
      return;
    } catch (e) {
      if (errno(e) === 'EEXIST') {
        await utimes(target, now, now).catch(() => undefined);
        return;
      }
      // a filesystem without hard links: a private copy, renamed into place
      if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK'].includes(errno(e) ?? '')) throw e;
    }
    const temp = `${target}.${randomUUID()}.tmp`;
    try {
      await copyFile(file, temp);
      await rename(temp, target);
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }

  async read(sha256: string, start = 0, end?: number): Promise<Readable> {
    let handle;
    try {
      handle = await open(this.pathOf(sha256), 'r');
    } catch (e) {
      if (errno(e) === 'ENOENT') throw new ObjectMissingError(sha256);
      throw e;
    }
    return handle.createReadStream({ start, ...(end !== undefined ? { end } : {}), highWaterMark: 1024 * 1024 });
  }

  async stat(sha256: string): Promise<{ size: number } | null> {
    try {
      return { size: (await stat(this.pathOf(sha256))).size };
    } catch (e) {
      if (errno(e) === 'ENOENT') return null;
      throw e;
    }
  }

  async delete(sha256: string): Promise<void> {
    try {
      await unlink(this.pathOf(sha256));
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw e;
    }
  }

  async *list(): AsyncIterable<{ sha256: string; modifiedAt: Date }> {
    let top;
    try {
      top = await opendir(this.blobs);
    } catch (e) {
      if (errno(e) === 'ENOENT') return;
      throw e;
    }
    for await (const dir of top) {
      if (!dir.isDirectory() || !/^[0-9a-f]{2}$/.test(dir.name)) continue;
      for await (const entry of await opendir(path.join(this.blobs, dir.name))) {
        if (!SHA256_HEX.test(entry.name)) continue;
        const s = await stat(path.join(this.blobs, dir.name, entry.name)).catch(() => null);
        if (s) yield { sha256: entry.name, modifiedAt: s.mtime };
      }
    }
  }
}
