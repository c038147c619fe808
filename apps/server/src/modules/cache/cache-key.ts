import { hash } from 'node:crypto';
import { canonicalJson, type PickledValue } from '@fx/protocol';

// the cache key's canonical arguments (and this module's spec of them)
export { canonicalJson };

/**
 * Memoized results, the pure part: canonical arguments, the scope an entry belongs to, the key, and the
 * TTL a task's entry gets. DESIGN.md invariant 11: a task completes from the stored outcome of an
 * identical earlier one (same function content, same canonical arguments, same owner scope).
 */

/** What decides who shares a function's entries. */
export interface CacheFunction {
  ownerId: string;
  public: boolean;
  cacheShareable: boolean;
}

/**
 * Whose entries a task reads and fills: the caller's own, unless the function is public and its owner
 * registered it shareable, when every caller shares the function owner's scope. A function made private
 * again changes the scope of new tasks, so they no longer meet entries made while it was shared.
 */
export function cacheScope(taskOwnerId: string, fn: CacheFunction): string {
  return fn.public && fn.cacheShareable ? `shared:${fn.ownerId}` : `user:${taskOwnerId}`;
}

/** A task's arguments as the key sees them: JSON args and kwargs, or a pickle task's pickled bytes. */
export type KeyArgs = { args: unknown[]; kwargs: Record<string, unknown>; pickledArgs?: PickledValue | undefined };

/**
 * The key of a task's entry: a digest of the scope, the function's content hash and the canonical
 * arguments. A pickle task's arguments are its pickled value (Python version, pickler, bytes): pickles
 * of equal values need not be equal bytes, so such tasks meet only when their bytes do.
 */
export function cacheKey(scope: string, contentHash: string, a: KeyArgs): string {
  const args = a.pickledArgs ? `pickle\n${canonicalJson(a.pickledArgs)}` : `json\n${canonicalJson([a.args, a.kwargs])}`;
  // the one-shot digest: a Hash object per task cost a batch of 10,000 about three times as much
  return hash('sha256', `fx-cache/1\n${scope}\n${contentHash}\n${args}`, 'hex');
}

export interface CacheTtlBounds {
  /** For `cache: true` on a function registered without a TTL. */
  defaultTtlSeconds: number;
  /** No entry lives longer. */
  maxTtlSeconds: number;
}

/**
 * How long a task's entry lives, or null when the task is not memoized: its own `cache` flag decides
 * (false: never; true: the function's TTL, else the default), absent that its function's registration.
 */
export function cacheTtl(requested: boolean | undefined, fnTtlSeconds: number | null, bounds: CacheTtlBounds): number | null {
  if (requested === false) return null;
  const ttl = requested === true ? (fnTtlSeconds ?? bounds.defaultTtlSeconds) : fnTtlSeconds;
  return ttl === null ? null : Math.max(1, Math.min(ttl, bounds.maxTtlSeconds));
}

/**
 * The scopes `fx cache clear <fn>` empties for a caller: their own entries of the function, and its
 * shared entries when they own it (an admin acts as the owner). Others' private entries are never theirs.
 */
export function clearableScopes(caller: { userId: string; admin: boolean }, fn: { ownerId: string }): string[] {
  return caller.userId === fn.ownerId || caller.admin ? [`user:${caller.userId}`, `shared:${fn.ownerId}`] : [`user:${caller.userId}`];
}
