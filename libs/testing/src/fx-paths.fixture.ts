import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The built FX programs, found by path from this file (libs/testing/src in sources, libs/testing/dist
// when built): a test library must not import the apps, but it runs what they build, as users do.
function findRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'apps/server/package.json')) && existsSync(join(dir, 'libs/testing/package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`@fx/testing: no FX repository above ${fileURLToPath(import.meta.url)}`);
  }
}

/** The repository root. */
export const FX_ROOT = findRoot();
/** The built server (`npm run build`). */
export const SERVER_MAIN = join(FX_ROOT, 'apps/server/dist/main.js');
/** The built `fx-endpoint` CLI. */
export const ENDPOINT_CLI = join(FX_ROOT, 'apps/endpoint/dist/cli/index.js');
