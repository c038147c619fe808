import { z } from 'zod';
import { FunctionRuntime, PythonEntrypoint, ResourceName, Uuid, pageQuery, pageResponse, queryFlag } from './common.js';
import { RetryPolicy } from './retry.js';
import { FunctionCache } from './memoize.js';
import { MAX_PROGRESS_PREFIX_CHARS } from './live.js';

/** REST v1 bodies of functions: registration, what the server stores, the list query. Paths are under `/v1`. */

export const RegisterFunctionRequest = z
  .object({
    name: ResourceName,
    runtime: FunctionRuntime,
    /**
     * js: source of one function expression, e.g. `(a, b) => a + b`; shell and mpi: a command template;
     * python: a module's source that defines `entrypoint` at its top level.
     */
    source: z
      .string()
      .min(1)
      .max(1024 * 1024),
    /** python only (and required there): the function of the source that a task calls. */
    entrypoint: PythonEntrypoint.optional(),
    /** shell only: a non-zero exit fails the task (NON_ZERO_EXIT, with its output) instead of succeeding with the returncode. @default false */
    failOnNonZeroExit: z.boolean().optional(),
    /**
     * shell only: a line of stdout that starts with this is a progress value (the rest of the line, as
     * JSON if it parses, else the text), not a log line (live.ts). @default none
     */
    progressPrefix: z.string().min(1).max(MAX_PROGRESS_PREFIX_CHARS).optional(),
    description: z.string().max(4096).optional(),
    walltimeSeconds: z
      .number()
      .positive()
      .max(7 * 24 * 3600)
      .optional(),
    public: z.boolean().default(false),
    /** The retry policy of its tasks, unless a task brings its own. @default none: a failure is final */
    retry: RetryPolicy.optional(),
    /** Memoized results (see FunctionCache); absent: tasks run every time unless submitted with `cache: true`. */
    cache: FunctionCache.optional(),
    /**
     * Running it twice does no harm: a straggling task of it may get a speculative copy when its batch
     * or map asks for `speculation`. Not part of the content hash (it changes nothing of what runs). @default false
     */
    idempotent: z.boolean().optional(),
  })
  .strict()
  .superRefine((req, ctx) => {
    if (req.runtime === 'python' && req.entrypoint === undefined)
      ctx.addIssue({ code: 'custom', path: ['entrypoint'], message: 'a python function needs an entrypoint: the name of the function to call, e.g. "main"' });
    if (req.runtime !== 'python' && req.entrypoint !== undefined)
      ctx.addIssue({ code: 'custom', path: ['entrypoint'], message: `entrypoint applies to python functions only, not to ${req.runtime}` });
    if (req.runtime !== 'shell' && req.failOnNonZeroExit !== undefined)
      ctx.addIssue({ code: 'custom', path: ['failOnNonZeroExit'], message: `failOnNonZeroExit applies to shell functions only, not to ${req.runtime}` });
    if (req.runtime !== 'shell' && req.progressPrefix !== undefined)
      ctx.addIssue({ code: 'custom', path: ['progressPrefix'], message: `progressPrefix applies to shell functions only, not to ${req.runtime}` });
    if (req.progressPrefix !== undefined && /[\r\n]/.test(req.progressPrefix))
      ctx.addIssue({ code: 'custom', path: ['progressPrefix'], message: 'a progress prefix is matched within one line: it may not hold a line break' });
  });
export type RegisterFunctionRequest = z.input<typeof RegisterFunctionRequest>;

export const FunctionInfo = z.object({
  id: Uuid,
  name: z.string(),
  /** 1, 2, …: registering a name again with different content adds a version; `name` alone means the newest. */
  version: z.number().int(),
  runtime: FunctionRuntime,
  source: z.string(),
  /** python: the function of the source a task calls; null for other runtimes. */
  entrypoint: z.string().nullable().default(null),
  /** shell: whether a non-zero exit fails the task. */
  failOnNonZeroExit: z.boolean().default(false),
  /** shell: stdout lines starting with this are progress values; null: none. */
  progressPrefix: z.string().nullable().default(null),
  description: z.string().nullable(),
  walltimeSeconds: z.number().nullable(),
  public: z.boolean(),
  /** The retry policy its tasks get unless they bring their own; null: none. */
  retry: RetryPolicy.nullable().default(null),
  /** Memoized results, as registered; null: none. */
  cache: z.object({ ttlSeconds: z.number().int(), shareable: z.boolean() }).nullable().default(null),
  /** Its straggling tasks may be copied (speculation); an older server sends none: false. */
  idempotent: z.boolean().default(false),
  contentHash: z.string(),
  ownerId: Uuid,
  createdAt: z.string(),
});
export type FunctionInfo = z.infer<typeof FunctionInfo>;

/**
 * Most bytes of source one page of `GET /v1/functions` holds: a page ends before the function that would
 * start past them (never before its first), whatever its `limit`. Other users' public functions are
 * listed too, and each may hold 1 MiB of source.
 */
export const FUNCTION_PAGE_SOURCE_BYTES = 8 * 1024 * 1024;

/**
 * `GET /v1/functions` query: your functions and public ones (admins: all), oldest first; `name` (or
 * `owner/name`) lists every live version of that name instead, newest first. Keyset-paged (at most
 * FUNCTION_PAGE_SOURCE_BYTES of source a page).
 */
export const ListFunctionsQuery = z
  .object({
    name: z
      .string()
      .regex(/^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,127}\/)?[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be "name" or "owner/name"')
      .optional(),
    ...pageQuery(100),
    /**
     * `false`: each item's `source` is the empty string, and a page is bounded by `limit` only. For lists
     * that show names (a table of tasks, the console's functions): other users' public sources are
     * theirs to make large. @default 'true'
     */
    source: queryFlag(true),
  })
  .strict();
export type ListFunctionsQuery = z.input<typeof ListFunctionsQuery>;
export type ParsedListFunctionsQuery = z.output<typeof ListFunctionsQuery>;

export const ListFunctionsResponse = z.object(pageResponse(FunctionInfo));
export type ListFunctionsResponse = z.infer<typeof ListFunctionsResponse>;
