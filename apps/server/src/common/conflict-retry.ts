/**
 * PostgreSQL aborts one of two statements that lock the same rows in opposite orders (40P01, deadlock)
 * and, under stricter isolation, one of two conflicting transactions (40001). Each statement of the task
 * hot path is its own transaction and safe to run again (first final wins, conditional updates), so it is
 * retried rather than failing a whole results frame or a heartbeat flush.
 */
const CONFLICT_CODES = new Set(['40P01', '40001']);

export function isConflictError(error: unknown): boolean {
  const seen = new Set<unknown>();
  let e: unknown = error;
  for (let depth = 0; e && typeof e === 'object' && !seen.has(e) && depth < 8; depth++) {
    seen.add(e);
    const x = e as { code?: unknown; meta?: { code?: unknown }; originalCode?: unknown; message?: unknown; cause?: unknown };
    if (typeof x.code === 'string' && CONFLICT_CODES.has(x.code)) return true;
    if (typeof x.originalCode === 'string' && CONFLICT_CODES.has(x.originalCode)) return true;
    if (typeof x.meta?.code === 'string' && CONFLICT_CODES.has(x.meta.code)) return true;
    if (typeof x.message === 'string' && /\b(40P01|40001)\b|deadlock detected/.test(x.message)) return true;
    e = x.cause;
  }
  return false;
}

/** Runs `statement`, again (up to `attempts` times in all, after 5–40 ms) when PostgreSQL aborted it for a conflict. */
export async function withConflictRetry<T>(statement: () => Promise<T>, attempts = 4): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await statement();
    } catch (error) {
      if (attempt >= attempts || !isConflictError(error)) throw error;
      await new Promise((r) => setTimeout(r, 5 * 2 ** (attempt - 1) * (0.5 + Math.random())));
    }
  }
}
