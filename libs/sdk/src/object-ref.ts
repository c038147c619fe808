import { ObjectRef, ObjectRefInput, isObjectRef, type ObjectInfo } from '@fx/protocol';

/**
 * What the SDK takes for an object: its ObjectRef (as `put` returns it), its ObjectInfo (as `info`
 * and `list` return it), its id, or, where a string is taken, its name.
 */
export type ObjectLike = ObjectRef | ObjectRefInput | ObjectInfo | string;

/** An ObjectInfo, recognised by shape (it may come from JSON, e.g. `fx objects ls --json`): its own ref names it. */
function isObjectInfo(v: object): v is ObjectInfo {
  const o = v as Partial<ObjectInfo>;
  return typeof o.ownerId === 'string' && typeof o.ref === 'object' && o.ref !== null && o.ref.id === o.id && ObjectRef.safeParse(o.ref).success;
}

/**
 * The wire reference for a value passed in task arguments, or undefined when it is none. An ObjectRef
 * counts only when it is exactly one (`$fx`, a uuid `id`, and nothing but sha256, size, encoding): a
 * value of the user's own with a `$fx` key is data, and is escaped like any other.
 */
export function objectRefOf(v: object): ObjectRefInput | undefined {
  if (isObjectRef(v)) {
    const ref = ObjectRefInput.safeParse(v);
    return ref.success ? ref.data : undefined;
  }
  return isObjectInfo(v) ? v.ref : undefined;
}
