import type { TaskSpec } from '@fx/protocol';
import { abortFailure, failure, type ExecutionOutcome } from '../runtimes/task.errors.js';
import type { CacheLease, ObjectCache } from './object.cache.js';
import { findObjectRefs, type ObjectPlacement } from './object.placement.js';
import type { ObjectStage, StagedObjects } from './object.stage.js';

/** A task's objects, fetched and held until `release()` (after its result is stored). */
export interface PreparedInputs {
  placements: ObjectPlacement[];
  release(): Promise<void>;
}

const NOTHING: PreparedInputs = { placements: [], release: () => Promise.resolve() };

/**
 * Resolution of a task's object references before it runs: each distinct content is fetched into the
 * task owner's partition of the endpoint's cache (once, however many of the owner's tasks share it) and
 * held while the task runs; workers behind a
 * sandbox get it staged where they may read it (ObjectStage), block workers on other nodes read the cache
 * itself (a shared filesystem). The task learns where each reference's content lies from the placements,
 * which its runtime turns into a Buffer, a value or a path. A fetch that fails for good fails the task
 * OBJECT_UNAVAILABLE with a sentence naming the object.
 */
export class TaskInputs {
  constructor(
    private readonly cache: ObjectCache,
    private readonly stage?: ObjectStage,
  ) {}

  async prepare(task: TaskSpec, signal: AbortSignal): Promise<PreparedInputs | { failed: ExecutionOutcome }> {
    const found = findObjectRefs(task.args, task.kwargs, task.objects);
    if (found.length === 0) return NOTHING;
    const distinct = new Map(found.map((f) => [f.ref.sha256, f.ref]));
    const leases: CacheLease[] = [];
    let staged: StagedObjects | undefined;
    const release = async () => {
      await staged?.remove();
      for (const lease of leases) lease.release();
    };
    try {
      const settled = await Promise.allSettled([...distinct.values()].map((ref) => this.cache.acquire(ref, signal, task.ownerId)));
      for (const s of settled) if (s.status === 'fulfilled') leases.push(s.value);
      const failed = settled.findIndex((s) => s.status === 'rejected');
      if (failed >= 0) {
        const ref = [...distinct.values()][failed]!;
        const reason: unknown = (settled[failed] as PromiseRejectedResult).reason;
        await release();
        if (signal.aborted) return { failed: abortFailure(signal.reason) };
        return {
          failed: failure(
            'OBJECT_UNAVAILABLE',
            'ObjectUnavailable',
            `object ${ref.id} (${ref.size} bytes) could not be fetched: ${reason instanceof Error ? reason.message : String(reason)}`,
          ),
        };
      }
      const cached = new Map(leases.map((l) => [l.sha256, l.path]));
      staged = this.stage ? await this.stage.place(cached) : undefined;
      const files = staged?.paths ?? cached;
      const placements = found.map(({ at, ref }) => ({
        at,
        file: files.get(ref.sha256) as string,
        encoding: ref.encoding,
        id: ref.id,
        sha256: ref.sha256,
        size: ref.size,
      }));
      return { placements, release };
    } catch (error) {
      await release();
      if (signal.aborted) return { failed: abortFailure(signal.reason) };
      return { failed: failure('OBJECT_UNAVAILABLE', 'ObjectUnavailable', `the task's objects could not be made ready: ${(error as Error).message}`) };
    }
  }
}
