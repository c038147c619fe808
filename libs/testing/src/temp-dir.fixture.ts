import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TempDir {
  path: string;
  /** Removes the directory and everything in it. */
  remove(): Promise<void>;
}

/** A fresh directory under the OS temp dir, for data dirs, spools and PGlite. */
export async function tempDir(label = 'fx-test'): Promise<TempDir> {
  const dir = await mkdtemp(path.join(tmpdir(), `${label}-`));
  return { path: dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
