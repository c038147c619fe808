import { ObjectRef, REF_KEY, type ObjectEncoding } from '@fx/protocol';

/** A path into a task's arguments: `args` or `kwargs`, then keys and indices. */
export type ArgumentPath = Array<string | number>;

/**
 * Where one object's content goes in a task's arguments, and where that content lies on disk. Travels
 * beside the arguments (never inside them): user data cannot forge one, whatever keys it holds.
 */
export interface ObjectPlacement {
  at: ArgumentPath;
  /** Absolute path of the content, readable where the task runs (staged for sandboxed workers, see ObjectStage). */
  file: string;
  encoding: ObjectEncoding;
  id: string;
  sha256: string;
  size: number;
}

/** An object reference found in a task's arguments. */
export interface FoundRef {
  at: ArgumentPath;
  ref: ObjectRef;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The complete object references (as the server fills them in at submit) in args and kwargs, at any
 * depth. Anything else with a `$fx` key is user data (the server unescapes `$$fx` before dispatch) and
 * is searched like any object.
 */
export function findObjectRefs(args: unknown[], kwargs: Record<string, unknown>): FoundRef[] {
  const found: FoundRef[] = [];
  const visit = (v: unknown, at: ArgumentPath): void => {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) visit(v[i], [...at, i]);
      return;
    }
    if (!isRecord(v)) return;
    if (v[REF_KEY] === 'object') {
      const ref = ObjectRef.safeParse(v);
      if (ref.success) {
        found.push({ at, ref: ref.data });
        return;
      }
    }
    for (const [k, x] of Object.entries(v)) if (typeof x === 'object' && x !== null) visit(x, [...at, k]);
  };
  visit(args, ['args']);
  visit(kwargs, ['kwargs']);
  return found;
}

/**
 * Sets `value` at `at` below `roots` (`{ args, kwargs }`), in place. Own data properties only: a key
 * such as `__proto__` from JSON stays a plain key. False when the path no longer leads anywhere.
 */
export function setAt(roots: { args: unknown[]; kwargs: Record<string, unknown> }, at: ArgumentPath, value: unknown): boolean {
  if (at.length < 2) return false;
  let holder: unknown = at[0] === 'args' ? roots.args : at[0] === 'kwargs' ? roots.kwargs : undefined;
  for (let i = 1; i < at.length - 1; i++) {
    const key = at[i] as string | number;
    holder =
      Array.isArray(holder) || isRecord(holder) ? (Object.hasOwn(holder, key) ? (holder as Record<string | number, unknown>)[key] : undefined) : undefined;
  }
  const last = at[at.length - 1] as string | number;
  if (!(Array.isArray(holder) || isRecord(holder)) || !Object.hasOwn(holder, last)) return false;
  Object.defineProperty(holder, last, { value, writable: true, enumerable: true, configurable: true });
  return true;
}
