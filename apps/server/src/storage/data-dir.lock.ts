import { readFileSync, rmSync } from 'node:fs';
import { readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** What a running server writes into its lock file, so a second one can name it. */
interface LockInfo {
  pid: number;
  host: string;
  since: string;
  url?: string;
}

/** Another live FX server holds this data directory. */
export class DataDirLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirLockedError';
  }
}

/** True while a process with this pid exists (EPERM: it exists, as another user's). */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * The embedded database is one process's files: a second server opening them would corrupt them, so the
 * data directory is locked before anything in it is touched. A lock left by a process that is gone (on
 * this host) is taken over; one held by a live process is refused with a sentence naming it.
 */
export class DataDirLock {
  private constructor(
    private readonly file: string,
    private info: LockInfo,
  ) {}

  static async acquire(dir: string): Promise<DataDirLock> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, 'server.lock');
    const info: LockInfo = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await writeFile(file, JSON.stringify(info) + '\n', { flag: 'wx', mode: 0o600 });
        // Nest's shutdown hooks end the process on SIGTERM without returning here: release on exit too.
        process.once('exit', () => releaseSync(file));
        return new DataDirLock(file, info);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const held = await readLock(file);
      if (held && held.pid !== process.pid && (held.host !== info.host || alive(held.pid))) {
        const where = held.url ? ` at ${held.url}` : '';
        const who = held.host === info.host ? `pid ${held.pid}` : `pid ${held.pid} on ${held.host}`;
        throw new DataDirLockedError(
          `FX is already running on the data directory ${dir} (${who}${where}, since ${held.since}); stop it first, or give this one another FX_DATA_DIR. (${file} is its lock.)`,
        );
      }
      // stale: its process is gone (or the file is unreadable garbage); take it over
      await rm(file, { force: true });
    }
    throw new DataDirLockedError(`could not lock the data directory ${dir}: ${file} keeps coming back; is another FX server starting?`);
  }

  /** Records where the server listens, for the sentence a second server prints. */
  async noteUrl(url: string): Promise<void> {
    this.info = { ...this.info, url };
    await writeFile(this.file, JSON.stringify(this.info) + '\n', { mode: 0o600 });
  }

  async release(): Promise<void> {
    const held = await readLock(this.file);
    if (held?.pid === process.pid) await rm(this.file, { force: true });
  }
}

async function readLock(file: string): Promise<LockInfo | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<LockInfo>;
    return typeof parsed.pid === 'number' && typeof parsed.host === 'string' && typeof parsed.since === 'string' ? (parsed as LockInfo) : undefined;
  } catch {
    return undefined;
  }
}

function releaseSync(file: string): void {
  try {
    if ((JSON.parse(readFileSync(file, 'utf8')) as Partial<LockInfo>).pid === process.pid) rmSync(file, { force: true });
  } catch {
    /* already gone */
  }
}
