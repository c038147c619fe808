import { Injectable } from '@nestjs/common';
import {
  looksLikeUuid,
  parseRef,
  RetryPolicy,
  shellTemplateProblem,
  toFunctionRuntime,
  type FunctionInfo,
  type ListFunctionsResponse,
  type ParsedListFunctionsQuery,
  type RegisterFunctionRequest,
  type UpdateFunctionRequest,
} from '@fx/protocol';
import { jsSyntaxProblem } from './js-syntax.js';
import { FxException } from '../../common/fx.exception.js';
import { resolveRefIds, type NameRef } from '../../common/refs.js';
import { decodeKeysetCursor, decodeVersionCursor, encodeKeysetCursor, encodeVersionCursor } from '../../common/keyset-cursor.js';
import type { Principal } from '../auth/principal.js';
import { FunctionsRepository } from './functions.repository.js';
import { functionContentHash } from '@fx/protocol/node';
import type { ClearCacheResponse } from '@fx/protocol';
import { CacheRepository } from '../cache/cache.repository.js';
import { CacheService } from '../cache/cache.service.js';
import { OutcomesService } from '../dependencies/outcomes.service.js';
import { clearableScopes } from '../cache/cache-key.js';
import { AuditService } from '../audit/audit.service.js';

type FunctionRow = NonNullable<Awaited<ReturnType<FunctionsRepository['findLive']>>>;

export const toFunctionInfo = (f: FunctionRow): FunctionInfo => ({
  id: f.id,
  name: f.name,
  version: f.version,
  runtime: toFunctionRuntime(f.runtime),
  source: f.source,
  entrypoint: f.entrypoint,
  failOnNonZeroExit: f.failOnNonZeroExit,
  progressPrefix: f.progressPrefix,
  description: f.description,
  walltimeSeconds: f.walltimeSeconds,
  public: f.public,
  cache: f.cacheTtlSeconds === null ? null : { ttlSeconds: f.cacheTtlSeconds, shareable: f.cacheShareable },
  retry: storedRetry(f.retry),
  idempotent: f.idempotent,
  contentHash: f.contentHash,
  ownerId: f.ownerId,
  createdAt: f.createdAt.toISOString(),
});

/** A stored policy as the protocol's type (null when absent, or unreadable). */
export function storedRetry(value: unknown): RetryPolicy | null {
  return value == null ? null : (RetryPolicy.safeParse(value).data ?? null);
}

@Injectable()
export class FunctionsService {
  constructor(
    private readonly functions: FunctionsRepository,
    private readonly cache: CacheRepository,
    private readonly audit: AuditService,
    private readonly entries: CacheService,
    private readonly outcomes: OutcomesService,
  ) {}

  /**
   * Registers a function under a name. The same function again (same runtime, source, entry point, exit
   * policy, walltime, description, retry policy and idempotent flag as the newest live version) returns that version as it is (`created: false`, its
   * public flag unchanged); anything else adds the next version, which the bare name then means.
   */
  async register(p: Principal, req: RegisterFunctionRequest): Promise<{ info: FunctionInfo; created: boolean }> {
    // Python source is only bounded (by the schema): the server has no Python to compile it with, and the
    // worker reports a SyntaxError with its line when a task runs it.
    const problem = req.runtime === 'js' ? jsSyntaxProblem(req.source) : req.runtime === 'python' ? undefined : shellTemplateProblem(req.source);
    if (problem) throw new FxException('VALIDATION_FAILED', problem);
    if (looksLikeUuid(req.name))
      throw new FxException(
        'VALIDATION_FAILED',
        `a function name may not look like an id ("${req.name}"): ids and names are both accepted wherever a function is named`,
      );
    const data = {
      ownerId: p.userId,
      name: req.name,
      runtime: req.runtime,
      source: req.source,
      entrypoint: req.entrypoint ?? null,
      failOnNonZeroExit: req.failOnNonZeroExit ?? false,
      progressPrefix: req.progressPrefix ?? null,
      description: req.description ?? null,
      walltimeSeconds: req.walltimeSeconds ?? null,
      public: req.public ?? false,
      cacheTtlSeconds: req.cache?.ttlSeconds ?? null,
      cacheShareable: req.cache?.shareable ?? false,
      retry: req.retry ? RetryPolicy.parse(req.retry) : null,
      // no part of the content hash: it changes nothing of what runs, and the agent checks the hash
      idempotent: req.idempotent ?? false,
      contentHash: functionContentHash(req.runtime, req.source, {
        entrypoint: req.entrypoint,
        failOnNonZeroExit: req.failOnNonZeroExit,
        progressPrefix: req.progressPrefix,
      }),
    };
    const { row, created } = await this.functions.createVersion(data, (newest) => sameContent(newest, data));
    if (!created) return { info: toFunctionInfo(row), created: false };
    await this.audit.record(p, {
      action: 'function.registered',
      target: { type: 'function', id: row.id },
      ownerId: row.ownerId,
      details: { name: row.name, version: row.version, runtime: row.runtime, contentHash: row.contentHash, public: row.public },
    });
    return { info: toFunctionInfo(row), created: true };
  }

  /**
   * The one place a function reference (id, `name`, `name@version`, `owner/name[@version]`) becomes a
   * live function the caller may see: their own, a public one, or any for an admin. A bare name is
   * looked up among the caller's own functions only, so another user's function of the same name never
   * shadows it; others' public functions are reached as `owner/name`.
   */
  async getVisible(p: Principal, ref: string): Promise<FunctionRow> {
    const parsed = parseRef(ref);
    const f = 'id' in parsed ? await this.functions.findLive(parsed.id) : await this.findByName(p, parsed);
    if (!f || !(f.ownerId === p.userId || f.public || p.admin)) throw notFound(ref);
    return f;
  }

  private async findByName(p: Principal, ref: NameRef): Promise<FunctionRow | undefined> {
    const version = ref.version === undefined ? {} : { version: ref.version };
    if (ref.owner === undefined) return (await this.functions.findByName({ ownerId: p.userId }, ref.name, { take: 1, ...version }))[0];
    // Others' private versions are invisible, so `owner/name` means the newest version the caller may see.
    return (await this.functions.findByName({ ownerName: ref.owner }, ref.name, version)).find((f) => f.ownerId === p.userId || f.public || p.admin);
  }

  /** Function ids for the distinct refs of a submission, each looked up once; unknown names are 404. */
  resolveIds(p: Principal, refs: Iterable<string>): Promise<Map<string, string>> {
    return resolveRefIds(refs, async (ref, parsed) => {
      const f = await this.findByName(p, parsed);
      if (!f) throw notFound(ref);
      return f.id;
    });
  }

  async get(p: Principal, ref: string): Promise<FunctionInfo> {
    return toFunctionInfo(await this.getVisible(p, ref));
  }

  /** A page of the functions the caller may see, or of the versions of one name (ListFunctionsQuery). */
  async list(p: Principal, q: ParsedListFunctionsQuery): Promise<ListFunctionsResponse> {
    const visibleTo = p.admin ? null : p.userId;
    if (q.name === undefined) {
      const { rows, more } = await this.functions.listVisible(visibleTo, q.cursor ? decodeKeysetCursor(q.cursor) : null, q.limit, q.source);
      const last = rows[rows.length - 1];
      return { items: rows.map(toFunctionInfo), nextCursor: more && last ? encodeKeysetCursor(last.createdAt, last.id) : null };
    }
    const ref = parseRef(q.name) as NameRef;
    const owner = ref.owner === undefined ? { ownerId: p.userId } : { ownerName: ref.owner };
    const { rows, more } = await this.functions.listVersions(owner, ref.name, visibleTo, q.cursor ? decodeVersionCursor(q.cursor) : null, q.limit, q.source);
    const last = rows[rows.length - 1];
    return { items: rows.map(toFunctionInfo), nextCursor: more && last ? encodeVersionCursor(last.version) : null };
  }

  /** Makes a function public (anyone may run it) or private again: its owner or an admin. */
  async update(p: Principal, ref: string, req: UpdateFunctionRequest): Promise<FunctionInfo> {
    const f = await this.getVisible(p, ref);
    if (!(f.ownerId === p.userId || p.admin)) throw FxException.notFound('function', ref);
    const changed = f.public !== req.public;
    const row = changed ? await this.functions.setPublic(f.id, req.public) : f;
    await this.audit.record(p, {
      action: req.public ? 'function.published' : 'function.unpublished',
      target: { type: 'function', id: f.id },
      ownerId: f.ownerId,
      details: { name: f.name, version: f.version, changed },
    });
    return toFunctionInfo(row);
  }

  /**
   * Drops the memoized results of a function's content that the caller may drop: their own, and the
   * shared ones of a function they own. Results being computed now are stored when they arrive.
   */
  async clearCache(p: Principal, ref: string): Promise<ClearCacheResponse> {
    const f = await this.getVisible(p, ref);
    // An outcome is published after its entry is filled, but a result read from the database (getTask, a
    // long-poll) may be seen between its commit and that fill: entries of ended executions are filled
    // first, so what was seen is what is cleared.
    await this.outcomes.published(await this.entries.settleEnded());
    const cleared = await this.cache.clear(f.contentHash, clearableScopes(p, f));
    await this.audit.record(p, {
      action: 'cache.cleared',
      target: { type: 'function', id: f.id },
      // another user's public function: what they cleared are their own results, not the owner's business
      ownerId: f.ownerId === p.userId || p.admin ? f.ownerId : p.userId,
      details: { name: f.name, version: f.version, contentHash: f.contentHash, cleared },
    });
    return { cleared };
  }

  async delete(p: Principal, ref: string): Promise<void> {
    const f = await this.getVisible(p, ref);
    if (!(f.ownerId === p.userId || p.admin)) throw notFound(ref);
    await this.functions.softDelete(f.id);
    await this.audit.record(p, {
      action: 'function.deleted',
      target: { type: 'function', id: f.id },
      ownerId: f.ownerId,
      details: { name: f.name, version: f.version, contentHash: f.contentHash },
    });
  }

  /** Checks that every function of a submission may be run by the caller; returns them by id. */
  async runnable(p: Principal, ids: string[]): Promise<Map<string, FunctionRow>> {
    const rows = await this.functions.findManyLive(ids);
    const byId = new Map(rows.filter((f) => f.ownerId === p.userId || f.public).map((f) => [f.id, f]));
    const missing = ids.find((id) => !byId.has(id));
    if (missing) throw FxException.notFound('function', missing);
    return byId;
  }
}

/**
 * What makes two registrations the same function. `public` is not part of it: it is a setting of a
 * version (PATCH /v1/functions/:id), and a script registering at every start (public defaulting to
 * false) must neither add a version nor unpublish one each time.
 */
type Content = Pick<
  FunctionRow,
  | 'runtime'
  | 'source'
  | 'entrypoint'
  | 'failOnNonZeroExit'
  | 'progressPrefix'
  | 'description'
  | 'walltimeSeconds'
  | 'retry'
  | 'cacheTtlSeconds'
  | 'cacheShareable'
  | 'idempotent'
>;
const sameContent = (a: Content, b: Content) =>
  a.runtime === b.runtime &&
  a.source === b.source &&
  a.entrypoint === b.entrypoint &&
  a.failOnNonZeroExit === b.failOnNonZeroExit &&
  a.progressPrefix === b.progressPrefix &&
  a.description === b.description &&
  a.walltimeSeconds === b.walltimeSeconds &&
  JSON.stringify(storedRetry(a.retry)) === JSON.stringify(storedRetry(b.retry)) &&
  a.cacheTtlSeconds === b.cacheTtlSeconds &&
  a.cacheShareable === b.cacheShareable &&
  a.idempotent === b.idempotent;

function notFound(ref: string): FxException {
  const parsed = parseRef(ref);
  if ('id' in parsed) return FxException.notFound('function', ref);
  const hint = parsed.owner === undefined ? ' (another user\'s public function is named "owner/name")' : '';
  return new FxException('NOT_FOUND', `no function "${ref}" was found among the functions you may see${hint}`);
}
