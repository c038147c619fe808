import { randomBytes } from 'node:crypto';
import { AuthService } from './auth.service.js';
import type { TokenRow, TokensRepository } from './tokens.repository.js';
import { VerifiedTokens } from './verified-tokens.js';

describe('VerifiedTokens', () => {
  it('forgets a token once it expires, and the least recently used one past its capacity', () => {
    const cache = new VerifiedTokens(2);
    const now = 1_000_000_000_000;
    cache.set('a', { exp: now / 1000 + 60 }, 'ha');
    cache.set('b', {}, 'hb');
    expect(cache.get('a', now)?.hash).toBe('ha');
    expect(cache.get('a', now + 60_000)).toBeUndefined();
    expect(cache.size).toBe(1);

    cache.set('a', {}, 'ha');
    cache.get('b', now); // b is now the most recently used
    cache.set('c', {}, 'hc');
    expect([cache.get('a', now), cache.get('b', now)?.hash, cache.get('c', now)?.hash]).toEqual([undefined, 'hb', 'hc']);
  });
});

describe('AuthService with remembered signatures', () => {
  const rows = new Map<string, TokenRow>();
  const repo = {
    async create(d: { id: string; userId: string; kind: 'user' | 'endpoint'; name: string; hash: string; expiresAt?: Date | null }) {
      const row = {
        endpointId: null,
        createdAt: new Date(),
        revokedAt: null,
        expiresAt: null,
        ...d,
        user: { id: d.userId, name: 'u', admin: false, createdAt: new Date() },
      };
      rows.set(d.id, row as TokenRow);
      return row;
    },
    findWithUser: async (id: string) => rows.get(id) ?? null,
  };
  const auth = new AuthService({ FX_SIGNING_KEY: randomBytes(32).toString('hex'), FX_DATA_DIR: '/nonexistent' }, repo as unknown as TokensRepository);

  beforeAll(() => auth.onModuleInit());

  it('still reads the row on every use: a revoked token is refused at once', async () => {
    const { token, row } = await auth.issue({ userId: 'u1', kind: 'user', name: 't' });
    expect((await auth.verify(token)).tokenId).toBe(row.id);
    expect((await auth.verify(token)).tokenId).toBe(row.id);
    rows.get(row.id)!.revokedAt = new Date();
    await expect(auth.verify(token)).rejects.toThrow(/revoked/);
  });

  it('checks the signature of every other text of a known token', async () => {
    const { token } = await auth.issue({ userId: 'u1', kind: 'user', name: 't' });
    await auth.verify(token);
    const [h, p, s] = token.split('.');
    const forged = `${h}.${p}.${s!.slice(0, -2)}${s!.endsWith('AA') ? 'BB' : 'AA'}`;
    await expect(auth.verify(forged)).rejects.toThrow(/invalid/);
  });

  it('refuses a remembered token once it has expired, saying so', async () => {
    // A minute, not a second: the expiry is whole seconds, and a one-second token issued late in a
    // second has expired by the first check on a loaded machine.
    const { token } = await auth.issue({ userId: 'u1', kind: 'user', name: 't', expiresInSeconds: 60 });
    await auth.verify(token);
    const real = Date.now;
    Date.now = () => real() + 120_000;
    try {
      await expect(auth.verify(token)).rejects.toThrow(/expired/);
    } finally {
      Date.now = real;
    }
  });
});
