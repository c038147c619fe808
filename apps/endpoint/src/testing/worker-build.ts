import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** apps/endpoint, found from this file (src/testing/, which the build leaves out of dist). */
export const ENDPOINT_APP_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIST_WORKER = join(ENDPOINT_APP_DIR, 'dist', 'providers', 'local', 'worker.js');
export const DIST_CLI = join(ENDPOINT_APP_DIR, 'dist', 'cli', 'index.js');

function newestSourceMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceMtime(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function isFresh(): boolean {
  if (!existsSync(DIST_WORKER) || !existsSync(DIST_CLI)) return false;
  const built = Math.min(statSync(DIST_WORKER).mtimeMs, statSync(DIST_CLI).mtimeMs);
  return built >= newestSourceMtime(join(ENDPOINT_APP_DIR, 'src'));
}

/**
 * Worker processes and the CLI run as compiled JS while tests run from TypeScript sources: build
 * `apps/endpoint/dist` when it is missing or older than the sources. A lock directory keeps parallel
 * jest workers from building over each other.
 */
export function ensureEndpointBuilt(): { workerScript: string; cli: string } {
  if (isFresh()) return { workerScript: DIST_WORKER, cli: DIST_CLI };
  const lock = join(ENDPOINT_APP_DIR, '.build-lock');
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}; remove it if no build is running`);
      execFileSync('sleep', ['0.2']);
    }
  }
  try {
    if (!isFresh()) {
      const tsc = join(ENDPOINT_APP_DIR, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc');
      execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ENDPOINT_APP_DIR, stdio: 'pipe' });
    }
  } finally {
    rmdirSync(lock);
  }
  return { workerScript: DIST_WORKER, cli: DIST_CLI };
}
