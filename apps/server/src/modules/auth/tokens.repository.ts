import { Inject, Injectable } from '@nestjs/common';
import { DATABASE } from '../../storage/storage.module.js';
import type { Database } from '../../storage/database.js';
import { KEYSET_ORDER, keysetAfter } from '../../storage/keyset-where.js';
import type { Token, User } from '../../generated/prisma/client.js';

/** A token with its user, as findWithUser reads it (its SQL names each column after the Prisma field). */
export type TokenRow = Token & { user: Pick<User, 'id' | 'name' | 'admin' | 'createdAt'> };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@Injectable()
export class TokensRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  create(data: { id: string; userId: string; endpointId?: string | null; kind: 'user' | 'endpoint'; name: string; hash: string; expiresAt?: Date | null }) {
    return this.db.prisma.token.create({ data: { ...data, endpointId: data.endpointId ?? null, expiresAt: data.expiresAt ?? null } });
  }

  /** Every authenticated request asks this: one statement (a join), not the two of a Prisma include. */
  async findWithUser(id: string): Promise<TokenRow | null> {
    if (!UUID.test(id)) return null;
    const rows = await this.db.sql.query<Token & { uName: User['name']; uAdmin: User['admin']; uCreatedAt: User['createdAt'] }>(
      `SELECT t.id::text AS "id", t.user_id::text AS "userId", t.endpoint_id::text AS "endpointId", t.kind, t.name, t.hash,
              t.created_at AS "createdAt", t.expires_at AS "expiresAt", t.revoked_at AS "revokedAt",
              u.name AS "uName", u.admin AS "uAdmin", u.created_at AS "uCreatedAt"
       FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.id = $1::uuid`,
      [id],
    );
    const r = rows[0];
    if (!r) return null;
    const { uName, uAdmin, uCreatedAt, ...token } = r;
    return {
      ...token,
      createdAt: new Date(token.createdAt),
      expiresAt: token.expiresAt && new Date(token.expiresAt),
      revokedAt: token.revokedAt && new Date(token.revokedAt),
      user: { id: token.userId, name: uName, admin: uAdmin, createdAt: new Date(uCreatedAt) },
    };
  }

  /**
   * Of these token ids, those no longer valid (unknown, revoked or expired): one statement for a whole
   * sweep, answering only what changed, so 1,000 idle sockets cost no 1,000 rows every sweep.
   */
  async findGone(ids: string[]): Promise<Set<string>> {
    const rows = await this.db.sql.query<Pick<Token, 'id'>>(
      `SELECT i.value AS "id" FROM jsonb_array_elements_text($1::jsonb) i
       WHERE NOT EXISTS (SELECT 1 FROM tokens t WHERE t.id = i.value::uuid AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()))`,
      [JSON.stringify(ids.filter((id) => UUID.test(id)))],
    );
    const gone = new Set(rows.map((r) => r.id));
    // an id that is no uuid names no token
    for (const id of ids) if (!UUID.test(id)) gone.add(id);
    return gone;
  }

  findById(id: string) {
    return this.db.prisma.token.findUnique({ where: { id } });
  }

  /** Up to `limit` of a user's tokens after the keyset `after` (createdAt, id), oldest first. */
  listForUser(userId: string, after: [Date, string] | null, limit: number) {
    return this.db.prisma.token.findMany({ where: { userId, ...keysetAfter(after) }, orderBy: KEYSET_ORDER, take: limit });
  }

  revoke(id: string) {
    return this.db.prisma.token.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
  }

  revokeForEndpoint(endpointId: string) {
    return this.db.prisma.token.updateMany({ where: { endpointId, revokedAt: null }, data: { revokedAt: new Date() } });
  }
}
