import type { WebSocket } from 'ws';
import type { TaskSpec } from '@fx/protocol';
import type { ExecutionOutcome } from '../../runtimes/task.errors.js';
import type { SubmitContext, TaskLostError } from '../provider.js';
import type { BlockClock } from './block.accounting.js';

/**
 * What the parts of the Slurm provider share: its settings, its blocks (pilot jobs), the nodes that
 * joined them, their worker slots, and the tasks waiting for or running on a slot.
 */

export interface SlurmSettings {
  partition?: string;
  account?: string;
  qos?: string;
  /** Block walltime in seconds (config: `walltime: "HH:MM:SS"`). */
  walltimeSeconds: number;
  nodesPerBlock: number;
  workersPerNode: number;
  coresPerWorker?: number;
  initBlocks: number;
  minBlocks: number;
  maxBlocks: number;
  maxIdleSeconds: number;
  schedulerOptions: string[];
  workerInit: string;
  launcher: 'srun' | 'none';
  mpiLauncher: 'srun' | 'mpiexec';
  /** host:port the agent listens on for its block workers. */
  listen: string;
  /** Host the block workers dial (the login node's name on the cluster network). */
  address?: string;
  pollIntervalSeconds: number;
}

/** What an agent's blocks are made of: given to the Slurm provider and passed on to its block lifecycle. */
export interface BlockOptions {
  settings: SlurmSettings;
  accelerators?: 'auto' | string[];
  /** Where block scripts and block logs go (`$FX_HOME/endpoints/<name>/blocks`). */
  blocksDir: string;
  shellOutputLines?: number;
  /** The interpreter of python workers on the compute nodes (after the block's workerInit). @default DEFAULT_PYTHON */
  python?: string;
  /** Where nodes leave result files for the agent (`$FX_HOME/endpoints/<name>/objects/incoming`, shared with the nodes; see node.results.ts). */
  resultsDir?: string;
}

export type BlockState = 'submitting' | 'pending' | 'running' | 'cancelling' | 'ended';

export interface Block {
  id: string;
  jobId?: string;
  secret: string;
  state: BlockState;
  schedulerState?: string;
  submittedAt: number;
  startedAt?: number;
  idleSince: number;
  nodes: NodeConn[];
  /** Its busy / idle split, from its first node joined (block.accounting.ts). */
  clock?: BlockClock;
}

/** One node's block worker, connected and welcomed. */
export interface NodeConn {
  ws: WebSocket;
  block: Block;
  node: string;
  slots: Slot[];
}

export interface Slot {
  conn: NodeConn;
  index: number;
  cores: number;
  devices: string[];
  id: string;
  running?: Pending;
}

/** A task handed to the provider, from `submit` until it settles or is lost. */
export interface Pending {
  task: TaskSpec;
  signal: AbortSignal;
  context: SubmitContext;
  settle: (outcome: ExecutionOutcome) => void;
  lose: (error: TaskLostError) => void;
  slot?: Slot;
}
