import type { TokenInfo, UserInfo } from '@fx/protocol';

export const toUserInfo = (u: { id: string; name: string; admin: boolean; createdAt: Date }): UserInfo => ({
  id: u.id,
  name: u.name,
  admin: u.admin,
  createdAt: u.createdAt.toISOString(),
});

export const toTokenInfo = (t: {
  id: string;
  name: string;
  kind: string;
  userId: string;
  endpointId: string | null;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
}): TokenInfo => ({
  id: t.id,
  name: t.name,
  kind: t.kind === 'endpoint' ? 'endpoint' : 'user',
  userId: t.userId,
  endpointId: t.endpointId,
  createdAt: t.createdAt.toISOString(),
  expiresAt: t.expiresAt?.toISOString() ?? null,
  revokedAt: t.revokedAt?.toISOString() ?? null,
});
