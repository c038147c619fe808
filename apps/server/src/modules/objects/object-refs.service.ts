import { Injectable } from '@nestjs/common';
import { replaceObjectRefs, type ObjectRef, type RemoteError, type TaskResult } from '@fx/protocol';
import { FxException } from '../../common/fx.exception.js';
import type { Principal } from '../auth/principal.js';
import { objectRefPath, type PlannedTask } from '../tasks/task-graph.js';
import { ObjectsRepository } from './objects.repository.js';
import { toObjectRef } from './object-info.js';

/** Ids read per statement. */
const PAGE = 10_000;

/** A submission's tasks with their object references completed, and the objects each refers to. */
export interface ResolvedObjects {
  /** Per task, in order: args and kwargs with every reference completed from its row, the distinct references, and their contents' sha256s. */
  tasks: Array<{ args: unknown[]; kwargs: Record<string, unknown>; objects: ObjectRef[]; contents: string[] }>;
}

/**
 * Objects as tasks see them: the references in a submission's arguments (each must be one the submitter
 * may read; the server fills in sha256, size and encoding from its row), and results reported as an
 * object (accepted only when the object holds that very task's output).
 */
@Injectable()
export class ObjectRefsService {
  constructor(private readonly objects: ObjectsRepository) {}

  /**
   * Completes the object references of a submission, or throws NOT_FOUND naming where the first one
   * the caller may not read is (a deleted, expired, unknown or someone else's object alike).
   */
  async resolve(p: Principal, planned: ReadonlyArray<PlannedTask>): Promise<ResolvedObjects | null> {
    const ids = [...new Set(planned.flatMap((t) => t.objects.map((o) => o.id.toLowerCase())))];
    if (ids.length === 0) return null;
    const rows = new Map<string, ObjectRef>();
    for (let i = 0; i < ids.length; i += PAGE) {
      for (const r of await this.objects.findLive(ids.slice(i, i + PAGE), p.admin ? null : p.userId)) rows.set(r.id, toObjectRef(r));
    }
    const missing = ids.find((id) => !rows.has(id));
    if (missing) {
      const where = (i: number) => (planned.length > 1 ? `tasks[${i}]` : 'the task');
      let path: string | null = null;
      for (let i = 0; i < planned.length && !path; i++)
        path = objectRefPath(planned[i]!.args, missing, `${where(i)}.args`) ?? objectRefPath(planned[i]!.kwargs, missing, `${where(i)}.kwargs`);
      throw new FxException(
        'NOT_FOUND',
        `${path ?? 'an argument'} refers to object ${missing}, which was not found, has expired or been deleted, or is not yours`,
      );
    }
    const complete = (ref: { id: string }) => rows.get(ref.id.toLowerCase())!;
    return {
      tasks: planned.map((t) => {
        if (t.objects.length === 0) return { args: t.args, kwargs: t.kwargs, objects: [], contents: [] };
        // complete() gives the same object for an id, so the Set keeps each reference once
        const objects = [...new Set(t.objects.map(complete))];
        return {
          args: replaceObjectRefs(t.args, complete, t.escaped),
          kwargs: replaceObjectRefs(t.kwargs, complete, t.escaped),
          objects,
          contents: [...new Set(objects.map((o) => o.sha256))],
        };
      }),
    };
  }

  /**
   * For each successful result reported as `resultRef`: the reference as the server's row says it, when
   * the object holds that task's output (uploaded for it) by the same run (`speculative`: the results
   * of the task's speculative copy, stored by the copy; otherwise of its original attempts, stored by
   * one) and belongs to the task's owner; otherwise the error the task (or copy) fails with
   * (OBJECT_UNAVAILABLE). So the copy's stored result becomes the task's only through the copy's win,
   * and the copy cannot report the original's as its own.
   */
  async checkResults(results: ReadonlyArray<TaskResult>, speculative = false): Promise<Map<string, ObjectRef | RemoteError>> {
    const out = new Map<string, ObjectRef | RemoteError>();
    const claimed = results.filter((r) => r.status === 'success' && r.resultRef);
    if (claimed.length === 0) return out;
    const rows = new Map((await this.objects.findTaskOutputs([...new Set(claimed.map((r) => r.resultRef!.id))])).map((o) => [o.id, o]));
    for (const r of claimed) {
      const o = rows.get(r.resultRef!.id.toLowerCase());
      const ok = o && o.task_id === r.taskId && o.task_owner_id === o.owner_id && o.speculative === speculative;
      out.set(
        r.taskId,
        ok
          ? toObjectRef(o)
          : {
              code: 'OBJECT_UNAVAILABLE',
              name: 'ObjectUnavailable',
              message: `the result was reported as object ${r.resultRef!.id}, which ${o ? "does not hold this task's output" : 'was not found (never uploaded for this task, or deleted)'}; the agent must upload the result with this task's taskId and report the object it got`,
            },
      );
    }
    return out;
  }
}
