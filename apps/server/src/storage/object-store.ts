import type { Readable } from 'node:stream';

/**
 * Where object content lives: one immutable blob per sha256 (content addressed, so the same bytes put
 * twice are stored once and a blob never changes). Which objects point at a blob, and whether it may be
 * deleted, is PostgreSQL's business (modules/objects): the store only keeps bytes, and holds no state
 * in memory that matters, so several server replicas may share one.
 *
 * The filesystem store (object-store.fs.ts) is the only implementation today. The interface is kept
 * narrow so that an S3-compatible one can be added later: `put` would upload the staged file to the key
 * `blobs/<sha256>` (a no-op when the key exists), `read` a ranged GET, `stat` a HEAD, `delete` a DELETE,
 * and `list` a ListObjectsV2 of the prefix. Upload staging (the temp files of resumable uploads) stays
 * on a filesystem path either way (modules/objects/upload-files.ts).
 */
export interface ObjectStore {
  readonly kind: 'fs';
  /**
   * Makes the bytes of the local file `file` the blob `sha256`. A no-op when that blob exists already
   * (deduplication). The file is left where it is: the caller removes it once the object row that
   * points at the blob is committed, so a failed commit can be retried from it.
   */
  put(file: string, sha256: string): Promise<void>;
  /** The blob's bytes from `start` on (0: all of them); throws ObjectMissingError when there is no such blob. */
  read(sha256: string, start?: number, end?: number): Promise<Readable>;
  /** The blob's size, or null when there is no such blob. */
  stat(sha256: string): Promise<{ size: number } | null>;
  /** Removes the blob; removing one that is not there is no error. */
  delete(sha256: string): Promise<void>;
  /** Every blob, with when it was last written (for the collector's scan of blobs no row points at). */
  list(): AsyncIterable<{ sha256: string; modifiedAt: Date }>;
}

export class ObjectMissingError extends Error {
  constructor(readonly sha256: string) {
    super(`blob ${sha256} is not in the object store`);
    this.name = 'ObjectMissingError';
  }
}

export const SHA256_HEX = /^[0-9a-f]{64}$/;
