import { Inject, Injectable } from '@nestjs/common';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';

export interface TokenRow {
  id: string;
  userId: string;
  endpointId: string | null;
  kind: string;
  name: string;
  hash: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  user: { id: string; name: string; admin: boolean; createdAt: Date };
}

@Injectable()
export class TokensRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  create(data: { id: string; userId: string; endpointId?: string | null; kind: 'user' | 'endpoint'; name: string; hash: string; expiresAt?: Date | null }) {
    return this.db.prisma.token.create({ data: { ...data, endpointId: data.endpointId ?? null, expiresAt: data.expiresAt ?? null } });
  }

  findWithUser(id: string): Promise<TokenRow | null> {
    return this.db.prisma.token.findUnique({ where: { id }, include: { user: true } });
  }

  findById(id: string) {
    return this.db.prisma.token.findUnique({ where: { id } });
  }

  listForUser(userId: string) {
    return this.db.prisma.token.findMany({ where: { userId }, orderBy: { createdAt: 'asc' } });
  }

  revoke(id: string) {
    return this.db.prisma.token.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
  }

  revokeForEndpoint(endpointId: string) {
    return this.db.prisma.token.updateMany({ where: { endpointId, revokedAt: null }, data: { revokedAt: new Date() } });
  }
}
