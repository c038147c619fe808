import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, copyFile, link, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** The staged copies of one task's objects: `paths` by sha256, until `remove()`. */
export interface StagedObjects {
  readonly paths: ReadonlyMap<string, string>;
  remove(): Promise<void>;
}

/**
 * Where sandboxed workers read a task's objects. The cache itself stays private (0700 under FX_HOME,
 * which bubblewrap hides); each task gets a directory of its own with a random name under `root`, holding
 * hard links to the cached files (copies when they lie on another filesystem). `root` is 0311: anyone may
 * pass through it, nobody may list it, so a task reaches only the directory it was told of, never another
 * task's objects. Under bubblewrap `root` is mounted read-only (WorkerSandbox.showing), so even a task
 * running as the agent's user cannot chmod and rewrite a file it shares with the cache; run under another uid,
 * it cannot write the agent's 0444 files at all.
 */
export class ObjectStage {
  constructor(readonly root: string) {}

  /** Creates `root` and empties what a previous run left in it. */
  async open(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await chmod(this.root, 0o700);
    for (const name of await readdir(this.root)) await this.removeDir(join(this.root, name));
    await chmod(this.root, 0o311);
  }

  /** Stages cached files (`sha256 → path in the cache`) for one task. */
  async place(files: ReadonlyMap<string, string>): Promise<StagedObjects> {
    const dir = join(this.root, randomUUID());
    await mkdir(dir, { mode: 0o700 });
    const paths = new Map<string, string>();
    try {
      for (const [sha256, source] of files) {
        const target = join(dir, sha256);
        await link(source, target).catch(async (error: NodeJS.ErrnoException) => {
          if (error.code !== 'EXDEV' && error.code !== 'EPERM' && error.code !== 'EMLINK') throw error;
          await copyFile(source, target, constants.COPYFILE_FICLONE);
          await chmod(target, 0o444);
        });
        paths.set(sha256, target);
      }
      await chmod(dir, 0o555);
    } catch (error) {
      await this.removeDir(dir);
      throw error;
    }
    let removed: Promise<void> | undefined;
    return { paths, remove: () => (removed ??= this.removeDir(dir)) };
  }

  /** Removes every staged directory and `root` itself (nothing runs any more). */
  async close(): Promise<void> {
    await this.removeDir(this.root);
  }

  private async removeDir(dir: string): Promise<void> {
    await chmod(dir, 0o700).catch(() => undefined);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
