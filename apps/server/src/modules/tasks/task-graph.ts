import { isObjectRef, RefSyntaxError, replaceRefs, scanRefs, type ObjectRefInput, type TaskRefValue } from '@fx/protocol';
import { FxException } from '../../common/fx.exception.js';

/** What a submission's tasks say of each other and of earlier tasks, once their references are read. */
export interface PlannedTask {
  args: unknown[];
  kwargs: Record<string, unknown>;
  /** Distinct ids of the tasks whose results this one takes; empty for a task that can run at once. */
  inputs: string[];
  /** The object references in its args and kwargs, as sent (the server completes them at submit). */
  objects: ObjectRefInput[];
  /**
   * Its args and kwargs still hold escaped keys, to be unescaped as its object references are completed
   * (ObjectRefsService.resolve): unescaped first, a user's `{"$$fx":"object",…}` would be taken for one.
   */
  escaped?: true;
}

export interface GraphPlan {
  tasks: PlannedTask[];
  /** Distinct ids referred to that are not part of this submission: they must exist and be the caller's. */
  external: string[];
}

export interface GraphLimits {
  maxRefsPerTask: number;
  maxRefsPerBatch: number;
}

const invalid = (message: string) => new FxException('VALIDATION_FAILED', message);

/**
 * Reads the references in a submission (tasks given with their new ids, in item order). A batch
 * reference `{"$fx":"ref","index":n}` must name an earlier item, so no submission can build a cycle
 * (and a task id refers to a task that exists already). Stored args keep references, as task ids,
 * until the inputs are in (dependency-rules.ts substitutes them); a task without any has its escaped
 * keys unescaped now (as its object references are completed, if it has some), so what is stored is
 * what runs. Pure: throws VALIDATION_FAILED with a sentence.
 */
export function planGraph(items: ReadonlyArray<{ id: string; args: unknown[]; kwargs: Record<string, unknown> }>, limits: GraphLimits): GraphPlan {
  const external = new Set<string>();
  const own = new Map(items.map((t, i) => [t.id, i]));
  let total = 0;
  let totalObjects = 0;
  const tasks = items.map((item, i): PlannedTask => {
    const where = items.length > 1 ? `tasks[${i}]` : 'the task';
    let refs: TaskRefValue[];
    let objects: ObjectRefInput[];
    let escaped: boolean;
    try {
      const a = scanRefs(item.args, `${where}.args`);
      const k = scanRefs(item.kwargs, `${where}.kwargs`);
      refs = [...a.refs, ...k.refs];
      objects = [...a.objects, ...k.objects];
      escaped = a.escaped || k.escaped;
    } catch (e) {
      if (e instanceof RefSyntaxError) throw invalid(e.message);
      throw e;
    }
    if (objects.length > limits.maxRefsPerTask)
      throw invalid(`${where} refers to ${objects.length} objects; a task may refer to at most ${limits.maxRefsPerTask}`);
    totalObjects += objects.length;
    if (totalObjects > limits.maxRefsPerBatch) throw invalid(`the submission refers to more than ${limits.maxRefsPerBatch} objects in all`);
    if (refs.length === 0) {
      if (!escaped) return { args: item.args, kwargs: item.kwargs, inputs: [], objects };
      if (objects.length > 0) return { args: item.args, kwargs: item.kwargs, inputs: [], objects, escaped: true };
      return { args: replaceRefs(item.args, (r) => r, true), kwargs: replaceRefs(item.kwargs, (r) => r, true), inputs: [], objects };
    }
    if (refs.length > limits.maxRefsPerTask)
      throw invalid(`${where} refers to ${refs.length} task results; a task may refer to at most ${limits.maxRefsPerTask}`);
    total += refs.length;
    if (total > limits.maxRefsPerBatch) throw invalid(`the submission refers to more than ${limits.maxRefsPerBatch} task results in all`);
    const inputs = new Set<string>();
    const toId = (ref: TaskRefValue): { $fx: 'ref'; taskId: string } => {
      if ('index' in ref) {
        if (items.length === 1 && i === 0) throw invalid(`${where} refers to a batch item (index ${ref.index}); only a batch's items may`);
        if (ref.index >= i) throw invalid(`${where} refers to item ${ref.index}; an item may refer only to items before it`);
        inputs.add(items[ref.index]!.id);
        return { $fx: 'ref', taskId: items[ref.index]!.id };
      }
      const id = ref.taskId.toLowerCase();
      // an id of this very submission cannot be known to the caller; refusing it keeps the graph acyclic
      if (own.has(id)) throw invalid(`${where} refers to task ${id} of this submission by id; use {"$fx":"ref","index":n}`);
      inputs.add(id);
      external.add(id);
      return { $fx: 'ref', taskId: id };
    };
    return { args: replaceRefs(item.args, toId, false), kwargs: replaceRefs(item.kwargs, toId, false), inputs: [...inputs], objects };
  });
  return { tasks, external: [...external] };
}

/** Where in a wire value (args or kwargs) the first reference to object `id` is, as scanRefs names paths; null when none. */
export function objectRefPath(value: unknown, id: string, at: string): string | null {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = objectRefPath(value[i], id, `${at}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  if (isObjectRef(value)) return String(value.id).toLowerCase() === id ? at : null;
  if (Object.hasOwn(value, '$fx')) return null;
  for (const [k, x] of Object.entries(value)) {
    const found = objectRefPath(x, id, `${at}.${k}`);
    if (found) return found;
  }
  return null;
}
