import { Inject, Injectable } from '@nestjs/common';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';

@Injectable()
export class FunctionsRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  create(data: { ownerId: string; name: string; runtime: string; source: string; description: string | null; walltimeSeconds: number | null; public: boolean; contentHash: string }) {
    return this.db.prisma.function.create({ data });
  }

  findLive(id: string) {
    return this.db.prisma.function.findFirst({ where: { id, deletedAt: null } });
  }

  /** Live functions with these ids, for batch submission checks. */
  findManyLive(ids: string[]) {
    return this.db.prisma.function.findMany({ where: { id: { in: ids }, deletedAt: null } });
  }

  /** Including deleted ones: a task accepted before its function was deleted still runs. */
  findManyAny(ids: string[]) {
    return this.db.prisma.function.findMany({ where: { id: { in: ids } } });
  }

  listVisible(userId: string, all: boolean) {
    return this.db.prisma.function.findMany({
      where: all ? { deletedAt: null } : { deletedAt: null, OR: [{ ownerId: userId }, { public: true }] },
      orderBy: { createdAt: 'asc' },
    });
  }

  softDelete(id: string) {
    return this.db.prisma.function.update({ where: { id }, data: { deletedAt: new Date() } });
  }
}
