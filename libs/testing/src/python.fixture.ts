import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** A Python interpreter: its path and `platform.python_version()`. */
export interface PythonInterpreter {
  path: string;
  version: string;
}

const minor = (version: string) => version.split('.').slice(0, 2).join('.');

function versionOf(python: string): string | undefined {
  try {
    return execFileSync(python, ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8', timeout: 15_000 }).trim();
  } catch {
    return undefined;
  }
}

/**
 * A Python 3.8+ whose major.minor differs from `python3`'s (the one tests and the SDK run), from pyenv's
 * versions ($PYENV_ROOT, else ~/.pyenv): the nearest minor, the newer on a tie. Throws a sentence naming
 * what is missing when there is none, so a test that needs a real version mismatch fails rather than
 * passing without one.
 */
export function otherPython(): PythonInterpreter {
  const own = versionOf('python3');
  if (!own) throw new Error('python3 is not on PATH: the tests need it');
  const root = join(process.env.PYENV_ROOT ?? join(homedir(), '.pyenv'), 'versions');
  const found: PythonInterpreter[] = [];
  for (const name of existsSync(root) ? readdirSync(root) : []) {
    const path = join(root, name, 'bin', 'python3');
    const version = existsSync(path) ? versionOf(path) : undefined;
    const [major, min] = (version ?? '').split('.').map(Number);
    if (version && major === 3 && (min ?? 0) >= 8 && minor(version) !== minor(own)) found.push({ path, version });
  }
  const distance = (v: string) => Math.abs(Number(v.split('.')[1]) - Number(own.split('.')[1]));
  found.sort((a, b) => distance(a.version) - distance(b.version) || Number(b.version.split('.')[1]) - Number(a.version.split('.')[1]));
  if (!found[0])
    throw new Error(`this test needs a Python 3.8+ other than python3's ${minor(own)}; none found in ${root} (install one there, e.g. \`pyenv install 3.12\`)`);
  return found[0];
}
