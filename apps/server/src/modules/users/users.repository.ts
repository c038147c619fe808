import { Inject, Injectable } from '@nestjs/common';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';

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
  list() {
    return this.db.prisma.user.findMany({ orderBy: { createdAt: 'asc' } });
  }
}
