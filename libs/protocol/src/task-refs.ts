import { z } from 'zod';
import { Uuid } from './common.js';
import { ObjectRefInput } from './objects.js';

/**
 * Futures as arguments: anywhere in a task's args or kwargs, at any depth, an object
 * `{ "$fx": "ref", "taskId": "<uuid>" }` stands for the result of that task, and in a batch
 * `{ "$fx": "ref", "index": n }` for the result of the batch's item n (an earlier item: a graph is
 * acyclic by construction). The task waits (`waiting-for-dependencies`) until every task it refers to
 * has succeeded; the agent then receives the results in place of the references.
 *
 * The key `$fx` is reserved. A user object with a key `$fx` (or `$$fx`, `$$$fx`, …) travels with one
 * more `$` on that key (`$$fx`), and the server takes one off before the task runs; any other object
 * with a `$fx` key is refused. The SDKs escape and unescape on their own.
 */
export const REF_KEY = '$fx';

export const TaskIdRef = z.object({ $fx: z.literal('ref'), taskId: Uuid }).strict();
export type TaskIdRef = z.infer<typeof TaskIdRef>;
export const BatchIndexRef = z.object({ $fx: z.literal('ref'), index: z.number().int().min(0) }).strict();
export type BatchIndexRef = z.infer<typeof BatchIndexRef>;
/** A reference to another task's result, as it travels in args and kwargs. */
export const TaskRefValue = z.union([TaskIdRef, BatchIndexRef]);
export type TaskRefValue = z.infer<typeof TaskRefValue>;

/** Keys that escape to themselves with one more `$`: `$fx`, `$$fx`, … */
const ESCAPABLE_KEY = /^\$+fx$/;

export const escapeRefKey = (key: string): string => (ESCAPABLE_KEY.test(key) ? `$${key}` : key);
/** Only ever applied to keys of two `$` or more: a bare `$fx` is a reference, never an escape. */
const unescapeRefKey = (key: string): string => (ESCAPABLE_KEY.test(key) ? key.slice(1) : key);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `v` with `visit` applied to each element; `v` itself when no element changed. */
function mapShared(v: unknown[], visit: (x: unknown) => unknown): unknown[] {
  let copy: unknown[] | undefined;
  for (let i = 0; i < v.length; i++) {
    const x = visit(v[i]);
    if (x !== v[i]) (copy ??= v.slice())[i] = x;
  }
  return copy ?? v;
}

/** `v` with its keys renamed and values visited; `v` itself when nothing changed. */
function mapEntries(v: Record<string, unknown>, rename: (k: string) => string, visit: (x: unknown) => unknown): Record<string, unknown> {
  let changed = false;
  const entries = Object.entries(v).map(([k, x]): [string, unknown] => {
    const key = rename(k);
    const y = visit(x);
    if (key !== k || y !== x) changed = true;
    return [key, y];
  });
  return changed ? Object.fromEntries(entries) : v;
}

/** What one value (a task's args, or its kwargs) holds of the reserved syntax. */
export interface RefScan {
  refs: TaskRefValue[];
  /** References to objects (`{"$fx":"object",…}`, see objects.ts): left in place, resolved by the agent. */
  objects: ObjectRefInput[];
  /** Some key was escaped (`$$fx`), so the stored value must be unescaped before it runs. */
  escaped: boolean;
}

/** Thrown by scanRefs: `message` is a sentence naming the path of the offending value. */
export class RefSyntaxError extends Error {
  override readonly name = 'RefSyntaxError';
}

/**
 * The references and escapes in a wire value (args or kwargs), or a RefSyntaxError for an object with
 * a `$fx` key that is no reference. Recursive: request bodies are nested at most 128 levels deep.
 */
export function scanRefs(value: unknown, path: string): RefScan {
  const out: RefScan = { refs: [], objects: [], escaped: false };
  const visit = (v: unknown, at: string): void => {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) visit(v[i], `${at}[${i}]`);
      return;
    }
    if (!isObject(v)) return;
    if (Object.hasOwn(v, REF_KEY)) {
      if (v[REF_KEY] === 'object') {
        const obj = ObjectRefInput.safeParse(v);
        if (!obj.success) throw new RefSyntaxError(`${at} is not an object reference ({"$fx":"object","id":"<uuid>"}, as put returns it)`);
        out.objects.push(obj.data);
        return;
      }
      const ref = TaskRefValue.safeParse(v);
      if (!ref.success)
        throw new RefSyntaxError(
          `${at} has the reserved key "$fx" but is not a reference ({"$fx":"ref","taskId":"<uuid>"}, {"$fx":"ref","index":<n>} or {"$fx":"object","id":"<uuid>"}); a value of your own with that key is sent as "$$fx"`,
        );
      out.refs.push(ref.data);
      return;
    }
    for (const [k, x] of Object.entries(v)) {
      if (ESCAPABLE_KEY.test(k)) out.escaped = true;
      visit(x, `${at}.${k}`);
    }
  };
  visit(value, path);
  return out;
}

/**
 * A copy of a wire value with each task reference replaced by `replace(ref)` (object references stay); with `unescape`, escaped
 * keys lose their extra `$` as well (the form a worker receives). Parts without either are shared.
 */
export function replaceRefs<T>(value: T, replace: (ref: TaskRefValue) => unknown, unescape: boolean): T {
  const visit = (v: unknown): unknown => {
    if (Array.isArray(v)) return mapShared(v, visit);
    if (!isObject(v)) return v;
    if (Object.hasOwn(v, REF_KEY)) return v[REF_KEY] === 'object' ? v : replace(v as TaskRefValue);
    return mapEntries(v, unescape ? unescapeRefKey : (k) => k, visit);
  };
  return visit(value) as T;
}

/**
 * What an SDK sends for a user value: each object that `asRef` recognises (a task handle, a future,
 * a ref) becomes its reference, and user keys `$fx`, `$$fx`, … gain one `$`. Returns `value` itself
 * when nothing needed changing, so the common case copies nothing.
 */
export function encodeRefs<T>(value: T, asRef: (v: object) => TaskRefValue | ObjectRefInput | undefined): T {
  const visit = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    const ref = asRef(v);
    if (ref) return ref;
    if (Array.isArray(v)) return mapShared(v, visit);
    const proto: unknown = Object.getPrototypeOf(v);
    // class instances are the caller's to judge (findJsonInfidelity); only plain objects are escaped
    if (proto !== Object.prototype && proto !== null) return v;
    return mapEntries(v as Record<string, unknown>, escapeRefKey, visit);
  };
  return visit(value) as T;
}

/**
 * A copy of a wire value with each object reference replaced by `replace(ref)` (task references stay);
 * with `unescape`, escaped keys lose their extra `$` in the same pass, so that a user's value of the
 * reference's shape is never taken for one. Parts without either are shared. The server completes
 * references with it at submit.
 */
export function replaceObjectRefs<T>(value: T, replace: (ref: ObjectRefInput) => unknown, unescape = false): T {
  const visit = (v: unknown): unknown => {
    if (Array.isArray(v)) return mapShared(v, visit);
    if (!isObject(v)) return v;
    if (Object.hasOwn(v, REF_KEY)) return v[REF_KEY] === 'object' ? replace(v as ObjectRefInput) : v;
    return mapEntries(v, unescape ? unescapeRefKey : (k) => k, visit);
  };
  return visit(value) as T;
}
