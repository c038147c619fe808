/**
 * The Slurm provider's elastic scaling as a pure function: what it knows now → what to do. No clock, no
 * I/O; the provider calls it on every poll and whenever tasks arrive.
 */

export interface ScalingBlock {
  id: string;
  /** `pending`: submitted, its workers not connected yet (its capacity is expected, not here). */
  state: 'pending' | 'running';
  /** Worker slots the block has (running) or will have (pending). */
  slots: number;
  /** Slots running a task now. */
  busy: number;
  /** When the block last had nothing to run (epoch ms); undefined while busy. */
  idleSince?: number;
}

export interface ScalingConfig {
  minBlocks: number;
  maxBlocks: number;
  maxIdleSeconds: number;
  /** Slots a new block brings: nodesPerBlock × workersPerNode. */
  slotsPerBlock: number;
}

export interface ScalingInput {
  now: number;
  /** Tasks handed to the provider and not yet placed on a worker. */
  queued: number;
  /** Live blocks (being cancelled and ended ones left out). */
  blocks: ScalingBlock[];
  config: ScalingConfig;
}

export interface ScalingDecision {
  /** New blocks to submit. */
  submit: number;
  /** Blocks to cancel (idle past maxIdleSeconds), oldest idle first. */
  cancel: string[];
}

/**
 * - Scale out when queued tasks exceed the free capacity of running and pending blocks: enough new
 *   blocks for the excess, never past maxBlocks; always at least minBlocks.
 * - Scale in blocks that have been idle longer than maxIdleSeconds, never below minBlocks, and only when
 *   nothing is queued (a queued task may be waiting for exactly that block's worker).
 */
export function decideScaling(input: ScalingInput): ScalingDecision {
  const { config, blocks, queued, now } = input;
  const slotsPerBlock = Math.max(1, config.slotsPerBlock);
  const free = blocks.reduce((sum, b) => sum + Math.max(0, b.slots - b.busy), 0);
  const room = Math.max(0, config.maxBlocks - blocks.length);
  const excess = queued - free;
  let submit = excess > 0 ? Math.min(Math.ceil(excess / slotsPerBlock), room) : 0;
  submit = Math.max(submit, Math.min(config.minBlocks, config.maxBlocks) - blocks.length);
  submit = Math.max(0, submit);

  const cancel: string[] = [];
  if (submit === 0 && queued === 0) {
    const idleMs = config.maxIdleSeconds * 1000;
    const candidates = blocks
      .filter((b) => b.busy === 0 && b.idleSince !== undefined && now - b.idleSince >= idleMs)
      .sort((a, b) => (a.idleSince as number) - (b.idleSince as number));
    const removable = Math.max(0, blocks.length - config.minBlocks);
    for (const b of candidates.slice(0, removable)) cancel.push(b.id);
  }
  return { submit, cancel };
}
