import type { TaskResources } from '@fx/protocol';
import { shellQuote } from '../../runtimes/shell/shell-quote.js';

/** How MPI functions start their ranks inside a block: Slurm's `srun` (default) or the MPI's `mpiexec`. */
export type MpiLauncher = 'srun' | 'mpiexec';

/**
 * Wraps a rendered MPI command in its launcher, `nodes × ranksPerNode` ranks. `srun` runs as a job step
 * of the block's allocation; `--overlap` lets it share the CPUs the block's own worker step holds, and
 * `--overcommit` lets ranks exceed the CPUs a small block was given (the block is ours alone anyway).
 */
export function mpiCommand(launcher: MpiLauncher, cmd: string, resources: TaskResources | undefined): string {
  const nodes = resources?.nodes ?? 1;
  const ranksPerNode = resources?.ranksPerNode ?? 1;
  const inner = `/bin/sh -c ${shellQuote(cmd)}`;
  if (launcher === 'mpiexec') return `mpiexec -n ${nodes * ranksPerNode} ${inner}`;
  return `srun --overlap --overcommit --nodes=${nodes} --ntasks-per-node=${ranksPerNode} --ntasks=${nodes * ranksPerNode} --kill-on-bad-exit=1 ${inner}`;
}
