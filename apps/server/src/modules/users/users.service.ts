import { Injectable } from '@nestjs/common';
import type {
  CreateTokenRequest,
  CreateTokenResponse,
  CreateUserRequest,
  ListTokensResponse,
  ListUsersResponse,
  ParsedListUsersQuery,
  UserInfo,
  WhoAmIResponse,
} from '@fx/protocol';
import { decodeKeysetCursor, encodeKeysetCursor } from '../../common/keyset-cursor.js';
import { isUniqueViolation } from '../../common/unique-violation.js';
import { FxException } from '../../common/fx.exception.js';
import { AuthService } from '../auth/auth.service.js';
import { TokensRepository } from '../auth/tokens.repository.js';
import { SocketRegistry } from '../auth/socket-registry.service.js';
import type { Principal } from '../auth/principal.js';
import { AuditService, type AuditBy } from '../audit/audit.service.js';
import { tokenIssued } from '../audit/audit-details.js';
import { UsersRepository } from './users.repository.js';
import { toTokenInfo, toUserInfo } from './users.mapper.js';

type Parsed<T> = { [K in keyof T]-?: Exclude<T[K], undefined> } & T;

@Injectable()
export class UsersService {
  constructor(
    private readonly users: UsersRepository,
    private readonly tokens: TokensRepository,
    private readonly auth: AuthService,
    private readonly sockets: SocketRegistry,
    private readonly audit: AuditService,
  ) {}

  async whoami(p: Principal): Promise<WhoAmIResponse> {
    const user = await this.users.findById(p.userId);
    if (!user) throw new FxException('UNAUTHENTICATED', 'the user of this token no longer exists');
    return { user: toUserInfo(user), tokenId: p.tokenId };
  }

  async create(p: AuditBy, req: Parsed<CreateUserRequest>): Promise<UserInfo> {
    const taken = () => new FxException('CONFLICT', `a user named "${req.name}" already exists`);
    if (await this.users.findByName(req.name)) throw taken();
    let user;
    try {
      user = await this.users.create(req.name, req.admin ?? false);
    } catch (e) {
      // created by a racing request between the check and the insert
      if (isUniqueViolation(e)) throw taken();
      throw e;
    }
    await this.audit.record(p, {
      action: 'user.created',
      target: { type: 'user', id: user.id },
      ownerId: user.id,
      details: { name: user.name, admin: user.admin },
    });
    return toUserInfo(user);
  }

  /** A page of every user, oldest first (ListUsersQuery). */
  async list(q: ParsedListUsersQuery): Promise<ListUsersResponse> {
    const rows = await this.users.list(q.cursor ? decodeKeysetCursor(q.cursor) : null, q.limit + 1);
    return page(rows, q.limit, toUserInfo);
  }

  async issueToken(p: AuditBy, userId: string, req: CreateTokenRequest): Promise<CreateTokenResponse> {
    if (!(await this.users.findById(userId))) throw FxException.notFound('user', userId);
    const { token, row } = await this.auth.issue({ userId, kind: 'user', name: req.name ?? 'token', expiresInSeconds: req.expiresInSeconds });
    await this.audit.record(p, tokenIssued(row));
    return { token, info: toTokenInfo(row) };
  }

  /** A page of a user's tokens, oldest first (ListTokensQuery). */
  async listTokens(userId: string, q: ParsedListUsersQuery): Promise<ListTokensResponse> {
    const after = q.cursor ? decodeKeysetCursor(q.cursor) : null;
    if (!(await this.users.findById(userId))) throw FxException.notFound('user', userId);
    return page(await this.tokens.listForUser(userId, after, q.limit + 1), q.limit, toTokenInfo);
  }

  async revokeToken(p: AuditBy, tokenId: string): Promise<void> {
    const row = await this.tokens.findById(tokenId);
    if (!row) throw FxException.notFound('token', tokenId);
    const { count } = await this.tokens.revoke(tokenId);
    await this.audit.record(p, {
      action: 'token.revoked',
      target: { type: 'token', id: tokenId },
      ownerId: row.userId,
      details: { name: row.name, kind: row.kind, ...(row.endpointId ? { endpointId: row.endpointId } : {}), alreadyRevoked: count === 0 },
    });
    // Open sockets of the token close now on every replica (the registry's sweep is the fallback).
    await this.sockets.revoked([tokenId]);
  }
}

/** The first `limit` of `rows` (read one past it, to know whether more follow), and the cursor after them when more do. */
function page<R extends { id: string; createdAt: Date }, T>(rows: R[], limit: number, map: (r: R) => T): { items: T[]; nextCursor: string | null } {
  const kept = rows.slice(0, limit);
  const last = kept[kept.length - 1];
  return { items: kept.map(map), nextCursor: rows.length > limit && last ? encodeKeysetCursor(last.createdAt, last.id) : null };
}
