import { encodeRefs, type TaskRefValue } from '@fx/protocol';
import { objectRefOf } from './object-ref.js';
import { TaskHandle } from './task-handle.js';

/**
 * A task's result, passed as an argument before it exists (futures as arguments): put one anywhere in
 * the args or kwargs of another task and the server runs that task once this one has succeeded, with
 * the result in its place. Made by `client.ref(taskId)` or, for an earlier item of the same batch,
 * `itemRef(index)`; a TaskHandle works as well. If the task fails or is cancelled, the dependent ends
 * with DEPENDENCY_FAILED (cancelled, for a cancelled input).
 */
export class TaskRef {
  private constructor(
    /** The task whose result is meant, or undefined for a batch item. */
    readonly taskId: string | undefined,
    /** The batch item whose result is meant (an earlier item of the same `runBatch`). */
    readonly index: number | undefined,
  ) {}

  /** Use `client.ref(taskId)`, which checks the id. */
  static of(taskId: string): TaskRef {
    return new TaskRef(taskId, undefined);
  }

  /** The result of item `index` of the batch this argument is submitted in (an item before this one). */
  static item(index: number): TaskRef {
    if (!Number.isInteger(index) || index < 0) throw new RangeError(`a batch item index is an integer of 0 or more, not ${index}`);
    return new TaskRef(undefined, index);
  }

  /** The wire form. */
  toJSON(): TaskRefValue {
    return this.taskId !== undefined ? { $fx: 'ref', taskId: this.taskId } : { $fx: 'ref', index: this.index! };
  }
}

/** The result of item `index` of the batch it is submitted in: `runBatch(ep, [{ functionId: f }, { functionId: g, args: [itemRef(0)] }])`. */
export const itemRef = (index: number): TaskRef => TaskRef.item(index);

/**
 * Args or kwargs as they are sent: task handles and refs become references, ObjectRefs and ObjectInfos
 * object references, user keys `$fx` are escaped (task-refs.ts in @fx/protocol). `onIndex` hears of
 * each batch-item reference.
 */
export function encodeArgs<T>(value: T, onIndex?: (index: number) => void): T {
  return encodeRefs(value, (v) => {
    if (v instanceof TaskHandle) return { $fx: 'ref', taskId: v.id };
    if (!(v instanceof TaskRef)) return objectRefOf(v);
    if (v.index !== undefined) onIndex?.(v.index);
    return v.toJSON();
  });
}
