/**
 * Who may see which task a memoized task completed from (`cachedFrom`). A shareable cache of a public
 * function serves every caller the entry its owner's task filled, so `cached_from` may name another
 * user's task: that id only tells its reader what someone else ran, and when, and is no use to them
 * (they cannot read the task). So it is shown to whom may read the source task (its owner; admins any
 * task that still exists); everyone sees `cached: true`.
 *
 * Each statement that returns `cached_from` for a client also returns the source's owner
 * (`cachedFromOwner`); a row without it shows no id (the safe default for a statement that forgets).
 */
export interface CachedSource {
  /** set when it completed from a memoized result (modules/cache): the task that produced it */
  cached_from?: string | null;
  /** that task's owner, where the statement returned it (cachedFromOwner); null once it is purged */
  cached_from_owner?: string | null;
}

/** Who reads a task: a principal, or for an outcome pushed to its owner's sockets, the owner. */
export interface CachedSourceViewer {
  userId: string;
  admin: boolean;
}

/** The `cached_from_owner` column of a row of tasks `t` (a scalar lookup by primary key; null without a source). */
export const cachedFromOwner = (t: string) => `(SELECT src.owner_id FROM tasks src WHERE src.id = ${t}.cached_from) AS cached_from_owner`;

/** The source task's id when `viewer` may read it, else null (also when the task did not come from the cache). */
export function visibleCachedFrom(row: CachedSource, viewer: CachedSourceViewer): string | null {
  if (!row.cached_from || !row.cached_from_owner) return null;
  return viewer.admin || row.cached_from_owner === viewer.userId ? row.cached_from : null;
}
