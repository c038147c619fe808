import { Inject, Injectable } from '@nestjs/common';
import { FUNCTION_PAGE_SOURCE_BYTES, type RetryPolicy } from '@fx/protocol';
import { Prisma, type Function as FunctionModel } from '../../generated/prisma/client.js';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';
import { modelSelect } from '../../storage/raw-rows.js';
import { withConflictRetry } from '../../common/conflict-retry.js';
import { lockName } from '../../storage/name-lock.js';

/** What registering a function writes; the version is the repository's to give. */
export interface NewFunction {
  ownerId: string;
  name: string;
  runtime: string;
  source: string;
  entrypoint: string | null;
  failOnNonZeroExit: boolean;
  progressPrefix: string | null;
  description: string | null;
  walltimeSeconds: number | null;
  public: boolean;
  cacheTtlSeconds: number | null;
  cacheShareable: boolean;
  retry: RetryPolicy | null;
  idempotent: boolean;
  contentHash: string;
}

/** A page of functions (FunctionsRepository.page). */
export interface FunctionPage {
  rows: FunctionModel[];
  more: boolean;
}

/** Every submission reads its functions: one prepared statement, as findMany would answer it. */
const COLUMNS = modelSelect(Prisma.FunctionScalarFieldEnum);
/** The same columns with an empty source: a list of names never reads the sources. */
const COLUMNS_NO_SOURCE = COLUMNS.replace('source AS "source"', `'' AS "source"`);
const FUNCTIONS = `SELECT ${COLUMNS} FROM functions`;

@Injectable()
export class FunctionsRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  /**
   * Adds the next version of `data.name`, unless `same(newest)` says the newest live version already is
   * this function, which it then returns. Under a lock on (owner, name) (lockName), so concurrent
   * registrations of one name take turns rather than race for the same version number.
   */
  async createVersion(data: NewFunction, same: (newest: FunctionModel) => boolean): Promise<{ row: FunctionModel; created: boolean }> {
    return withConflictRetry(() =>
      this.db.prisma.$transaction(
        async (tx) => {
          await lockName(tx, `functions/${data.ownerId}/${data.name}`);
          const newest = await tx.function.findFirst({ where: { ownerId: data.ownerId, name: data.name, deletedAt: null }, orderBy: { version: 'desc' } });
          if (newest && same(newest)) return { row: newest, created: false };
          // deleted versions count too: a version number is never given twice
          const max = await tx.function.aggregate({ where: { ownerId: data.ownerId, name: data.name }, _max: { version: true } });
          const version = (max._max.version ?? 0) + 1;
          return { row: await tx.function.create({ data: { ...data, version, retry: data.retry ?? Prisma.DbNull } }), created: true };
        },
        { maxWait: 30_000, timeout: 60_000 },
      ),
    );
  }

  async findLive(id: string): Promise<FunctionModel | null> {
    return (await this.db.sql.query<FunctionModel>(`${FUNCTIONS} WHERE id = $1::uuid AND deleted_at IS NULL`, [id]))[0] ?? null;
  }

  /** Live functions with these ids, for batch submission checks. */
  findManyLive(ids: string[]): Promise<FunctionModel[]> {
    return this.db.sql.query<FunctionModel>(`${FUNCTIONS} WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL`, [ids]);
  }

  /** Including deleted ones: a task accepted before its function was deleted still runs. */
  findManyAny(ids: string[]) {
    return this.db.prisma.function.findMany({ where: { id: { in: ids } } });
  }

  /**
   * A page of the live functions `visibleTo` may see (theirs and public ones; null: all), oldest first,
   * after `after` (the previous page's last: created_at, id). See page.
   */
  listVisible(visibleTo: string | null, after: [Date, string] | null, limit: number, source = true): Promise<FunctionPage> {
    return this.page(
      `($1::uuid IS NULL OR f.owner_id = $1::uuid OR f.public) AND ($2::timestamptz IS NULL OR (f.created_at, f.id) > ($2::timestamptz, $3::uuid))`,
      'f.created_at, f.id',
      [visibleTo, after?.[0] ?? null, after?.[1] ?? null],
      limit,
      source,
    );
  }

  /**
   * A page of the live versions of one name, newest first, below version `below`: of the owner
   * `ownerId`, or of the user named `ownerName`, those `visibleTo` may see (theirs and public ones;
   * null: all). See page.
   */
  listVersions(
    owner: { ownerId: string } | { ownerName: string },
    name: string,
    visibleTo: string | null,
    below: number | null,
    limit: number,
    source = true,
  ): Promise<FunctionPage> {
    return this.page(
      `f.owner_id = ${'ownerId' in owner ? '$1::uuid' : '(SELECT u.id FROM users u WHERE u.name = $1::text)'} AND f.name = $2::text
       AND ($3::uuid IS NULL OR f.owner_id = $3::uuid OR f.public) AND ($4::int IS NULL OR f.version < $4::int)`,
      'f.version DESC',
      ['ownerId' in owner ? owner.ownerId : owner.ownerName, name, visibleTo, below],
      limit,
      source,
    );
  }

  /**
   * Up to `limit` live functions that `where` lets through, in `order`, and no more source than
   * FUNCTION_PAGE_SOURCE_BYTES once the first is in: a page's size does not depend on how many public
   * functions others registered. The sources of the rows past it are never read (only their lengths,
   * which PostgreSQL keeps beside them). `more`: functions are left after the page. Without `source`,
   * no source is read and each row's is the empty string: `limit` alone bounds the page.
   */
  private async page(where: string, order: string, params: unknown[], limit: number, source = true): Promise<FunctionPage> {
    const n = params.length;
    const bytes = source ? 'octet_length(f.source)' : '0';
    const rows = await this.db.sql.query<FunctionModel & { left: number | string }>(
      `WITH m AS (
         SELECT f.*, row_number() OVER w AS rn, sum(${bytes}) OVER w - ${bytes} AS before_bytes
         FROM functions f WHERE f.deleted_at IS NULL AND ${where}
         WINDOW w AS (ORDER BY ${order}) ORDER BY ${order} LIMIT $${n + 1}::int + 1),
       page AS (SELECT * FROM m WHERE rn <= $${n + 1}::int AND (rn = 1 OR before_bytes < $${n + 2}::bigint))
       SELECT ${source ? COLUMNS : COLUMNS_NO_SOURCE}, (SELECT count(*) FROM m) - (SELECT count(*) FROM page) AS "left"
       FROM page ORDER BY rn`,
      [...params, limit, FUNCTION_PAGE_SOURCE_BYTES],
    );
    return { rows: rows.map(({ left: _, ...f }) => f), more: Number(rows[0]?.left ?? 0) > 0 };
  }

  /**
   * Live versions of a name, newest first: of the owner `ownerId`, or of the user named `ownerName`.
   * `publicOnly` keeps the ones others may run; `version` picks one.
   */
  findByName(owner: { ownerId: string } | { ownerName: string }, name: string, opts: { version?: number; publicOnly?: boolean; take?: number } = {}) {
    return this.db.prisma.function.findMany({
      where: {
        ...('ownerId' in owner ? { ownerId: owner.ownerId } : { owner: { name: owner.ownerName } }),
        name,
        deletedAt: null,
        ...(opts.version === undefined ? {} : { version: opts.version }),
        ...(opts.publicOnly ? { public: true } : {}),
      },
      orderBy: { version: 'desc' },
      ...(opts.take === undefined ? {} : { take: opts.take }),
    });
  }

  setPublic(id: string, value: boolean) {
    return this.db.prisma.function.update({ where: { id }, data: { public: value } });
  }

  softDelete(id: string) {
    return this.db.prisma.function.update({ where: { id }, data: { deletedAt: new Date() } });
  }
}
