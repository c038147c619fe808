import { spawnSync } from 'node:child_process';
import { release } from 'node:os';
import type { InheritedEnv } from '../../config/env.js';

/** config.yaml's `sandboxMaxProcesses` when absent: processes and threads of one sandbox together. */
export const DEFAULT_SANDBOX_MAX_PROCESSES = 4_096;

/**
 * Whether RLIMIT_NPROC, set inside a sandbox, bounds that sandbox's processes alone, and so a fork bomb
 * in one task (another user's, on an endpoint of a group) cannot take every process the agent's user
 * may have: the agent could then start no worker, and every other tenant's tasks would fail with it.
 *
 * The kernel counts RLIMIT_NPROC per user. Two sandboxes count per sandbox:
 * - `uid`: each worker and shell task runs as a uid of its own, which nothing else uses;
 * - `bwrap` with `--unshare-user` (bubblewrap 0.8 and later, tasks making no namespaces of their own):
 *   since Linux 5.14 the count is kept per user namespace, and each namespace's limit is its creator's.
 *   So the limit is lowered inside the namespace, after bubblewrap made it (prlimit before the worker's
 *   own command): set before, the namespace's ceiling would count every process of the agent's user.
 * Elsewhere (no user namespace, an older kernel, a root agent, which RLIMIT_NPROC never binds), a limit
 * would count the agent's own processes too, and is not set. Needs util-linux's `prlimit`.
 */
export function processLimitHolds(kind: 'bwrap' | 'uid', ownNamespace: boolean, environment: InheritedEnv): string | undefined {
  if (!hasPrlimit(environment)) return 'prlimit (util-linux) is not on the PATH';
  if (kind === 'uid') return undefined;
  if (process.getuid?.() === 0) return 'the agent runs as root, which RLIMIT_NPROC does not bind';
  if (!ownNamespace) return 'tasks share the user namespace of the agent, whose processes a limit would count too';
  if (!kernelAtLeast(release(), 5, 14)) return `Linux ${release()} counts processes per user, not per user namespace (5.14 and later)`;
  return undefined;
}

/** The words that start `file args` with at most `max` processes and threads (the caller checked processLimitHolds). */
export function underProcessLimit(max: number, file: string, args: string[]): string[] {
  return ['prlimit', `--nproc=${max}`, '--', file, ...args];
}

export function kernelAtLeast(version: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

let prlimit: boolean | null = null;

function hasPrlimit(environment: InheritedEnv): boolean {
  if (prlimit !== null) return prlimit;
  const r = spawnSync('prlimit', ['--version'], { encoding: 'utf8', timeout: 10_000, env: { PATH: environment.PATH ?? '/usr/bin:/bin' } });
  prlimit = !r.error && r.status === 0;
  return prlimit;
}
