import { Inject, Injectable } from '@nestjs/common';
import type { RetryPolicy } from '@fx/protocol';
import { Prisma, type Function as FunctionModel } from '../../generated/prisma/client.js';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';
import { modelSelect } from '../../storage/raw-rows.js';

/** Every submission reads its functions: one prepared statement, as findMany would answer it. */
const FUNCTIONS = `SELECT ${modelSelect(Prisma.FunctionScalarFieldEnum)} FROM functions`;

@Injectable()
export class FunctionsRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  create(data: {
    ownerId: string;
    name: string;
    version: number;
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
  }) {
    return this.db.prisma.function.create({ data: { ...data, retry: data.retry ?? Prisma.DbNull } });
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

  listVisible(userId: string, all: boolean) {
    return this.db.prisma.function.findMany({
      where: all ? { deletedAt: null } : { deletedAt: null, OR: [{ ownerId: userId }, { public: true }] },
      orderBy: [{ createdAt: 'asc' }, { version: 'asc' }],
    });
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

  /** The highest version ever given to a name, deleted rows included (0 when none): versions are never reused. */
  async maxVersion(ownerId: string, name: string): Promise<number> {
    const r = await this.db.prisma.function.aggregate({ where: { ownerId, name }, _max: { version: true } });
    return r._max.version ?? 0;
  }

  setPublic(id: string, value: boolean) {
    return this.db.prisma.function.update({ where: { id }, data: { public: value } });
  }

  softDelete(id: string) {
    return this.db.prisma.function.update({ where: { id }, data: { deletedAt: new Date() } });
  }
}
