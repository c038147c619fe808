import type { TaskResources } from '@fx/protocol';
import { slotFits } from '../slots/slot.runner.js';

/**
 * Where the Slurm provider's queued tasks go, as a pure function: what it knows now → which task runs
 * on which free slot. No clock, no I/O, no mutation; the provider calls it whenever a task arrives, a
 * node joins or a task ends, and applies the answer in order.
 */

/** A worker slot: `running` is set while it runs a task. */
export interface PlacementSlot {
  cores: number;
  /** Pinned accelerators (one per GPU the slot holds). */
  devices: readonly string[];
  running?: unknown;
}

export interface PlacementBlock<S extends PlacementSlot> {
  /** When its first node joined (epoch ms); unknown counts as now. */
  startedAt?: number;
  nodes: ReadonlyArray<{ slots: readonly S[] }>;
}

export interface PlacementInput<T extends { task: { resources?: TaskResources } }, S extends PlacementSlot> {
  now: number;
  /** How long a block lasts (slurm.walltime), in seconds. */
  blockWalltimeSeconds: number;
  /** Tasks not on a slot yet, oldest first. */
  queue: readonly T[];
  /** The running blocks. */
  blocks: ReadonlyArray<PlacementBlock<S>>;
}

export interface Placement<T, S> {
  /** Where the task is in `queue` as given (placements come in queue order). */
  index: number;
  task: T;
  slot: S;
}

/**
 * - Busiest blocks first, so that idle blocks stay idle and can be scaled in.
 * - A task takes the first free slot with its cores and GPUs, in a block with at least the task's
 *   walltime left.
 * - Tasks go in queue order; one that fits nowhere yet waits without holding back those behind it.
 */
export function placeTasks<T extends { task: { resources?: TaskResources } }, S extends PlacementSlot>(input: PlacementInput<T, S>): Array<Placement<T, S>> {
  const { now, queue } = input;
  const free = [...input.blocks]
    .sort((a, b) => busySlots(b) - busySlots(a))
    .flatMap((block) => block.nodes.flatMap((n) => n.slots.filter((s) => !s.running).map((slot) => ({ slot, block }))));
  const placements: Array<Placement<T, S>> = [];
  for (let index = 0; index < queue.length && free.length > 0; index++) {
    const r = queue[index]!.task.resources;
    const at = free.findIndex(({ slot, block }) => {
      if (!slotFits({ cores: slot.cores, gpus: slot.devices.length }, r)) return false;
      if (r?.walltimeSeconds !== undefined) {
        const left = (block.startedAt ?? now) + input.blockWalltimeSeconds * 1000 - now;
        if (left < r.walltimeSeconds * 1000) return false;
      }
      return true;
    });
    if (at < 0) continue;
    placements.push({ index, task: queue[index]!, slot: free.splice(at, 1)[0]!.slot });
  }
  return placements;
}

/** Whether any slot of these blocks is free. */
export function hasFreeSlot(blocks: ReadonlyArray<PlacementBlock<PlacementSlot>>): boolean {
  return blocks.some((b) => b.nodes.some((n) => n.slots.some((s) => !s.running)));
}

/** Slots of the block running a task now. */
export function busySlots(block: PlacementBlock<PlacementSlot>): number {
  let n = 0;
  for (const node of block.nodes) for (const s of node.slots) if (s.running) n++;
  return n;
}
