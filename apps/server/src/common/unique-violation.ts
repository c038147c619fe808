/** Whether a database error is a unique-constraint violation (PostgreSQL 23505, Prisma P2002), under any adapter. */
export function isUniqueViolation(error: unknown): boolean {
  const seen = new Set<unknown>();
  let e: unknown = error;
  for (let depth = 0; e && typeof e === 'object' && !seen.has(e) && depth < 8; depth++) {
    seen.add(e);
    const x = e as {
      code?: unknown;
      originalCode?: unknown;
      kind?: unknown;
      meta?: { code?: unknown; driverAdapterError?: unknown };
      message?: unknown;
      cause?: unknown;
    };
    if (x.code === 'P2002' || x.code === '23505' || x.originalCode === '23505' || x.meta?.code === '23505' || x.kind === 'UniqueConstraintViolation')
      return true;
    if (typeof x.message === 'string' && /duplicate key value violates unique constraint|Unique constraint failed/.test(x.message)) return true;
    e = x.meta?.driverAdapterError ?? x.cause;
  }
  return false;
}
