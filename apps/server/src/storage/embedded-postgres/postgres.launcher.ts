import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { PostgresBinariesUnavailableError } from './postgres.binaries.js';

/** Turns a command into the one that runs it: as is, or wrapped so that PostgreSQL accepts to run. */
export type Launcher = (command: string, args: string[]) => [string, string[]];

const direct: Launcher = (command, args) => [command, args];

/**
 * PostgreSQL refuses to run as root. Rather than make a system user (and open the data directory to
 * it), root's postgres runs in a user namespace where root is mapped to `nobody`: postgres sees an
 * ordinary user, while every file it writes is still root's, with the data directory's 0700/0600 modes.
 * Where user namespaces are not allowed (a container's default seccomp profile), this throws, and the
 * caller says so.
 */
export function postgresLauncher({ uid = process.getuid?.() ?? -1, unshare = 'unshare' }: { uid?: number; unshare?: string } = {}): Launcher {
  if (uid !== 0) return direct;
  const inside = unprivilegedIds();
  const prefix = ['--user', `--map-user=${inside.uid}`, `--map-group=${inside.gid}`];
  const probe = spawnSync(unshare, [...prefix, 'true'], { stdio: 'ignore', timeout: 10_000 });
  if (probe.error || probe.status !== 0) {
    const why = probe.error ? probe.error.message : `unshare exited with ${probe.status}`;
    throw new PostgresBinariesUnavailableError(
      `PostgreSQL does not run as root, and FX could not map root to an ordinary user in a user namespace (${why}); run FX as an ordinary user, or set DATABASE_URL`,
    );
  }
  return (command, args) => [unshare, [...prefix, command, ...args]];
}

/** nobody's ids from /etc/passwd (initdb needs a user it can look up), else the usual 65534. */
function unprivilegedIds(): { uid: number; gid: number } {
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('nobody:'));
    const [, , uid, gid] = line?.split(':') ?? [];
    if (uid && gid && Number(uid) > 0) return { uid: Number(uid), gid: Number(gid) };
  } catch {
    // fall through
  }
  return { uid: 65534, gid: 65534 };
}
