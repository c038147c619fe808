import { Inject, Injectable } from '@nestjs/common';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';
import { KEYSET_ORDER, keysetAfter } from '../../storage/keyset-where.js';

@Injectable()
export class UsersRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  count() {
    return this.db.prisma.user.count();
  }
  create(name: string, admin: boolean) {
    return this.db.prisma.user.create({ data: { name, admin } });
  }
  findById(id: string) {
    return this.db.prisma.user.findUnique({ where: { id } });
  }
  findByName(name: string) {
    return this.db.prisma.user.findUnique({ where: { name } });
  }
  /** Up to `limit` users after the keyset `after` (createdAt, id), oldest first. */
  list(after: [Date, string] | null, limit: number) {
    return this.db.prisma.user.findMany({ where: keysetAfter(after), orderBy: KEYSET_ORDER, take: limit });
  }
}
