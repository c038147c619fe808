/**
 * The Prisma `where` and `orderBy` of a keyset page over (createdAt, id), oldest first, for tables
 * whose rows share a createdAt (one transaction's inserts do): the id breaks the tie, so a page
 * neither repeats nor skips a row whatever was inserted meanwhile.
 */
export const KEYSET_ORDER = [{ createdAt: 'asc' as const }, { id: 'asc' as const }];

/** The rows after (at, id) in KEYSET_ORDER; every row when `after` is null (the first page). */
export function keysetAfter(after: [at: Date, id: string] | null) {
  if (!after) return {};
  const [at, id] = after;
  return { OR: [{ createdAt: { gt: at } }, { createdAt: at, id: { gt: id } }] };
}
