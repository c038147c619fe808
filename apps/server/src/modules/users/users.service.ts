import { Injectable } from '@nestjs/common';
import type { CreateTokenRequest, CreateTokenResponse, CreateUserRequest, TokenInfo, UserInfo, WhoAmIResponse } from '@fx/protocol';
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

  async list(): Promise<UserInfo[]> {
    return (await this.users.list()).map(toUserInfo);
  }

  async issueToken(p: AuditBy, userId: string, req: CreateTokenRequest): Promise<CreateTokenResponse> {
    if (!(await this.users.findById(userId))) throw FxException.notFound('user', userId);
    const { token, row } = await this.auth.issue({ userId, kind: 'user', name: req.name ?? 'token', expiresInSeconds: req.expiresInSeconds });
    await this.audit.record(p, tokenIssued(row));
    return { token, info: toTokenInfo(row) };
  }

  async listTokens(userId: string): Promise<TokenInfo[]> {
    if (!(await this.users.findById(userId))) throw FxException.notFound('user', userId);
    return (await this.tokens.listForUser(userId)).map(toTokenInfo);
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
