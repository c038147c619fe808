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

const refKey = (r: ObjectRef): string => `${r.id.toLowerCase()} ${r.sha256} ${r.size} ${r.encoding}`;

/**
 * The object references in args and kwargs, at any depth, that are equal to one the server checked
 * for the task (`checked`: TaskSpec.objects). Anything else with a `$fx` key is user data, searched like
 * any object: the server unescapes a user's `$$fx` before dispatch, so the shape alone proves nothing.
 */
export function findObjectRefs(args: unknown[], kwargs: Record<string, unknown>, checked: readonly ObjectRef[] = []): FoundRef[] {
  const found: FoundRef[] = [];
  if (checked.length === 0) return found;
  const allowed = new Set(checked.map(refKey));
  const visit = (v: unknown, at: ArgumentPath): void => {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) visit(v[i], [...at, i]);
      return;
    }
    if (!isRecord(v)) return;
    if (v[REF_KEY] === 'object') {
      const ref = ObjectRef.safeParse(v);
      if (ref.success && allowed.has(refKey(ref.data))) {
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
