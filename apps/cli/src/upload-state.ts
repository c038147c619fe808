import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CliEnv } from './config/env.js';

/** What identifies one put of a file: the same file unchanged, to the same server, with the same options. */
export interface UploadKey {
  url: string;
  path: string;
  size: number;
  mtimeMs: number;
  name?: string | undefined;
  ttlSeconds?: number | undefined;
  encoding: string;
}

/**
 * Unfinished uploads of `fx put <file>`, so that running the same command again after a failure sends
 * only what the server does not hold yet: `$FX_HOME/uploads/<key digest>.json` holds the upload id,
 * written as soon as the upload exists and removed once the object does. The server keeps an
 * unfinished upload for a while only; a stale id is simply not found, and the put starts over.
 */
export class UploadStateStore {
  constructor(private readonly env: CliEnv) {}

  private file(key: UploadKey): string {
    const digest = createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 32);
    return join(this.env.home, 'uploads', `${digest}.json`);
  }

  /** The upload id an earlier, failed run of this put left, if any. */
  async read(key: UploadKey): Promise<string | undefined> {
    try {
      const saved = JSON.parse(await readFile(this.file(key), 'utf8')) as { uploadId?: unknown };
      return typeof saved.uploadId === 'string' ? saved.uploadId : undefined;
    } catch {
      return undefined; // none, or unreadable: either way this put starts a new upload
    }
  }

  async save(key: UploadKey, uploadId: string): Promise<void> {
    const dir = join(this.env.home, 'uploads');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(this.env.home, 0o700).catch(() => undefined);
    await writeFile(this.file(key), JSON.stringify({ uploadId, path: key.path }) + '\n', { mode: 0o600 });
  }

  async clear(key: UploadKey): Promise<void> {
    await rm(this.file(key), { force: true });
  }
}
