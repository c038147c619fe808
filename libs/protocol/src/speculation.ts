import { z } from 'zod';

/**
 * Speculative execution for stragglers (issue 16), asked for by a batch or a map: once `minSamples` of
 * the group's tasks have succeeded, a task still running `afterFactor` times longer than their median
 * runtime (running → completed) gets one copy on another worker, and the first final result wins.
 * Only tasks of functions registered `idempotent` are ever copied; the others run as usual.
 */
export const Speculation = z
  .object({
    /** How many times the median runtime a task may run before it is copied; more than 1. @default 3 */
    afterFactor: z.number().gt(1).max(1000).default(3),
    /** Succeeded tasks of the group needed before any task is copied. @default 5 */
    minSamples: z.number().int().min(1).max(100_000).default(5),
  })
  .strict();
export type Speculation = z.output<typeof Speculation>;
export type SpeculationOptions = z.input<typeof Speculation>;

/** How often a server looks for stragglers to copy (and for copies to settle). */
export const SPECULATION_INTERVAL_MS = 1_000;
