import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { APP_CONFIG, decodeKey, type AppConfig } from '../../config/env.js';
import { FxException } from '../../common/fx.exception.js';
import type { Principal } from './principal.js';
import { TokensRepository } from './tokens.repository.js';
import { VerifiedTokens } from './verified-tokens.js';

const ISSUER = 'fx';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Issues and checks bearer tokens. Tokens are HS256 JWTs whose `jti` is a row in `tokens`, so they can
 * be revoked; the row keeps only a hash of the token.
 */
@Injectable()
export class AuthService implements OnModuleInit {
  private readonly logger = new Logger('Auth');
  private key!: Uint8Array;
  private readonly verified = new VerifiedTokens();

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'FX_SIGNING_KEY' | 'FX_DATA_DIR'>,
    private readonly tokens: TokensRepository,
  ) {}

  async onModuleInit(): Promise<void> {
    this.key = await this.loadKey();
  }

  private async loadKey(): Promise<Uint8Array> {
    if (this.config.FX_SIGNING_KEY) return new Uint8Array(decodeKey(this.config.FX_SIGNING_KEY));
    await mkdir(this.config.FX_DATA_DIR, { recursive: true, mode: 0o700 });
    const file = join(this.config.FX_DATA_DIR, 'signing.key');
    try {
      const text = (await readFile(file, 'utf8')).trim();
      return new Uint8Array(Buffer.from(text, 'hex'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      const key = randomBytes(32);
      // 'wx' so two processes sharing a data dir cannot both create one
      await writeFile(file, key.toString('hex') + '\n', { mode: 0o600, flag: 'wx' }).catch(async (err) => {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      });
      this.logger.log(`created a token signing key in ${file}`);
      return new Uint8Array(Buffer.from((await readFile(file, 'utf8')).trim(), 'hex'));
    }
  }

  async issue(opts: { userId: string; kind: 'user' | 'endpoint'; name: string; endpointId?: string; expiresInSeconds?: number }) {
    const id = randomUUID();
    const now = Math.floor(Date.now() / 1000);
    let jwt = new SignJWT({ kind: opts.kind, ...(opts.endpointId ? { ep: opts.endpointId } : {}) })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setSubject(opts.userId)
      .setJti(id)
      .setIssuedAt(now);
    const expiresAt = opts.expiresInSeconds ? new Date((now + opts.expiresInSeconds) * 1000) : null;
    if (opts.expiresInSeconds) jwt = jwt.setExpirationTime(now + opts.expiresInSeconds);
    const token = await jwt.sign(this.key);
    const row = await this.tokens.create({
      id,
      userId: opts.userId,
      endpointId: opts.endpointId,
      kind: opts.kind,
      name: opts.name,
      hash: sha256(token),
      expiresAt,
    });
    return { token, row };
  }

  /** Resolves a bearer token to a principal, or throws UNAUTHENTICATED with the reason. */
  async verify(token: string | undefined): Promise<Principal> {
    if (!token) throw new FxException('UNAUTHENTICATED', 'missing bearer token: send "Authorization: Bearer <token>"');
    const { payload, hash } = await this.checkSignature(token);
    if (typeof payload.jti !== 'string' || typeof payload.sub !== 'string') throw new FxException('UNAUTHENTICATED', 'token is invalid');
    const row = await this.tokens.findWithUser(payload.jti);
    if (!row || row.hash !== hash || row.userId !== payload.sub) throw new FxException('UNAUTHENTICATED', 'token is not known to this server');
    if (row.revokedAt) throw new FxException('UNAUTHENTICATED', 'token has been revoked');
    if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) throw new FxException('UNAUTHENTICATED', 'token has expired');
    return {
      tokenId: row.id,
      userId: row.userId,
      admin: row.user.admin,
      kind: row.kind === 'endpoint' ? 'endpoint' : 'user',
      endpointId: row.endpointId,
      expiresAt: row.expiresAt,
    };
  }

  private async checkSignature(token: string) {
    const known = this.verified.get(token);
    if (known) return known;
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.key, { issuer: ISSUER, algorithms: ['HS256'] }));
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw new FxException('UNAUTHENTICATED', 'token has expired');
      throw new FxException('UNAUTHENTICATED', 'token is invalid');
    }
    const hash = sha256(token);
    this.verified.set(token, payload, hash);
    return { payload, hash };
  }

  static bearer(header: string | string[] | undefined): string | undefined {
    const value = Array.isArray(header) ? header[0] : header;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(value ?? '');
    return m?.[1];
  }
}
