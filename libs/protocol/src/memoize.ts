import { z } from 'zod';

/** Memoized results (issue 14): the wire forms. The key and its scope are the server's business. */

/** Longest TTL a registration may ask for; the server may bound it lower (FX_CACHE_MAX_TTL_SECONDS). */
export const MAX_CACHE_TTL_SECONDS = 365 * 24 * 3600;

/**
 * A function's memoized results: a successful task's result serves identical later tasks (same function
 * content, same canonical arguments, same owner scope) for `ttlSeconds` after it completed.
 */
export const FunctionCache = z
  .object({
    /** How long a stored result serves identical tasks, in seconds. */
    ttlSeconds: z.number().int().min(1).max(MAX_CACHE_TTL_SECONDS),
    /**
     * When the function is also public: every caller's identical tasks share its entries. Otherwise each
     * caller's entries are their own. @default false
     */
    shareable: z.boolean().default(false),
  })
  .strict();
export type FunctionCache = z.input<typeof FunctionCache>;

/**
 * A task's own say: `true` memoizes it with its function's TTL (or the server's default when the function
 * has none); `false` runs it even when its function is memoized. Absent: as its function says.
 */
export const TaskCacheFlag = z.boolean();

/** What `DELETE /v1/functions/:id/cache` answers: how many stored results were dropped. */
export const ClearCacheResponse = z.object({ cleared: z.number().int() });
export type ClearCacheResponse = z.infer<typeof ClearCacheResponse>;
