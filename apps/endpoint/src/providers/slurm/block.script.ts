import { shellQuote } from '../../runtimes/shell/shell-quote.js';
import { BLOCK_SECRET_VAR } from './block-worker.config.js';

export interface BlockScriptInput {
  jobName: string;
  blockId: string;
  secret: string;
  /** ws://host:port/ the workers dial. */
  agentAddress: string;
  outputPath: string;
  walltime: string;
  nodesPerBlock: number;
  workersPerNode: number;
  coresPerWorker?: number;
  partition?: string;
  account?: string;
  qos?: string;
  schedulerOptions: string[];
  workerInit: string;
  launcher: 'srun' | 'none';
  mpiLauncher: 'srun' | 'mpiexec';
  accelerators?: 'auto' | string[];
  /** The node binary and the block worker entry (same paths on the compute nodes: a shared filesystem). */
  nodePath: string;
  workerEntry: string;
  shellOutputLines: number;
  /** The interpreter of python workers (resolved on the node, after workerInit). */
  python?: string;
  /** Where nodes leave result files for the agent to upload (the endpoint's objects/incoming, on the shared filesystem). */
  resultsDir?: string;
}

/** The `sbatch` script of one block: #SBATCH lines, the user's init, then one FX node worker per node. */
export function renderBlockScript(input: BlockScriptInput): string {
  const sb = (line: string) => `#SBATCH ${line}`;
  const lines = [
    '#!/bin/bash',
    sb(`--job-name=${input.jobName}`),
    sb(`--nodes=${input.nodesPerBlock}`),
    sb('--ntasks-per-node=1'),
    sb(`--time=${input.walltime}`),
    sb(`--output=${input.outputPath}`),
  ];
  if (input.coresPerWorker !== undefined) lines.push(sb(`--cpus-per-task=${input.coresPerWorker * input.workersPerNode}`));
  if (input.partition) lines.push(sb(`--partition=${input.partition}`));
  if (input.account) lines.push(sb(`--account=${input.account}`));
  if (input.qos) lines.push(sb(`--qos=${input.qos}`));
  for (const option of input.schedulerOptions) lines.push(option.trim().startsWith('#SBATCH') ? option.trim() : sb(option.trim()));
  lines.push('', `# FX block ${input.blockId}`, '');
  if (input.workerInit.trim() !== '') lines.push('# workerInit', input.workerInit.trim(), '');
  // The per-block secret: only this block's workers know it (the script is 0600; sbatch keeps its copy private).
  lines.push(`export ${BLOCK_SECRET_VAR}=${shellQuote(input.secret)}`);
  const args = [
    input.nodePath,
    input.workerEntry,
    '--agent',
    input.agentAddress,
    '--block',
    input.blockId,
    '--workers',
    String(input.workersPerNode),
    '--cores',
    String(input.coresPerWorker ?? 1),
    '--mpi-launcher',
    input.mpiLauncher,
    '--output-lines',
    String(input.shellOutputLines),
  ];
  if (input.python !== undefined) args.push('--python', input.python);
  if (input.resultsDir !== undefined) args.push('--results-dir', input.resultsDir);
  if (input.accelerators !== undefined) args.push('--accelerators', input.accelerators === 'auto' ? 'auto' : input.accelerators.join(','));
  const worker = args.map(shellQuote).join(' ');
  if (input.launcher === 'srun') {
    lines.push(`exec srun --overlap --ntasks-per-node=1 --nodes=${input.nodesPerBlock} --kill-on-bad-exit=0 ${worker}`);
  } else {
    lines.push(`exec ${worker}`);
  }
  return lines.join('\n') + '\n';
}
