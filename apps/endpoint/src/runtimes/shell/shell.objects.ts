import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setAt, type ObjectPlacement } from '../../objects/object.placement.js';

/**
 * A shell task's kwargs with each object reference replaced by a file path (shell-quoted later, like
 * any value). With `workDir`, the path is `<workDir>/objects/<object id>`, a symbolic link to the
 * content the agent prepared (read-only: staged under a read-only mount for bubblewrap, the agent's 0444
 * file under a uid of its own); without, the prepared file itself (MPI ranks on other nodes of a block do not see
 * the node-local working directory, but do see the shared filesystem).
 */
export async function placeShellObjects(
  kwargs: Record<string, unknown>,
  placements: ObjectPlacement[] = [],
  workDir?: string,
): Promise<Record<string, unknown>> {
  const mine = placements.filter((p) => p.at[0] === 'kwargs');
  if (mine.length === 0) return kwargs;
  const copy = structuredClone(kwargs);
  const dir = workDir === undefined ? undefined : join(workDir, 'objects');
  if (dir) await mkdir(dir, { recursive: true });
  const linked = new Set<string>();
  for (const p of mine) {
    let path = p.file;
    if (dir) {
      path = join(dir, p.id);
      if (!linked.has(p.id)) await symlink(p.file, path);
      linked.add(p.id);
    }
    setAt({ args: [], kwargs: copy }, p.at, path);
  }
  return copy;
}
