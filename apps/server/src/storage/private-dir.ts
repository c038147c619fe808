import { chmod, lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A directory holding a file of this name is made 0700 but not walked: whoever wrote the marker creates
 * everything inside it private, and it may hold too many files to walk at every start (the object store).
 */
export const PRIVATE_MARKER = '.fx-private';

/**
 * Makes the data directory and everything in it private to the user running FX (directories 0700,
 * files 0600), whatever modes it had: it holds the admin token, the signing key and the embedded
 * database. Symbolic links are left alone (their targets are not ours to change).
 */
export async function makePrivate(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const walk = async (path: string): Promise<void> => {
    const info = await lstat(path);
    if (info.isSymbolicLink()) return;
    if (info.isDirectory()) {
      if ((info.mode & 0o777) !== 0o700) await chmod(path, 0o700);
      const names = await readdir(path);
      if (path !== dir && names.includes(PRIVATE_MARKER)) return;
      for (const name of names) await walk(join(path, name)).catch(ignoreVanished);
    } else if ((info.mode & 0o777) !== 0o600) {
      await chmod(path, 0o600);
    }
  };
  await walk(dir);
}

// A running embedded PostgreSQL (one left by a killed FX, stopped later in start-up) creates and
// removes files while the walk runs.
function ignoreVanished(e: NodeJS.ErrnoException): void {
  if (e.code !== 'ENOENT') throw e;
}

/** Runs `fn` with a umask of 077, so that files it creates (PGlite's) are private from the start. */
export async function withPrivateUmask<T>(fn: () => Promise<T>): Promise<T> {
  const previous = process.umask(0o077);
  try {
    return await fn();
  } finally {
    process.umask(previous);
  }
}

/** Creates `dir` (0700) with the marker that keeps makePrivate from walking it: everything in it must be created private. */
export async function makePrivateTree(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  await writeFile(join(dir, PRIVATE_MARKER), 'FX creates every file here 0600 and every directory 0700.\n', { mode: 0o600 });
}
