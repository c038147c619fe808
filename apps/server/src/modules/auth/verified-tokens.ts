import type { JWTPayload } from 'jose';

/**
 * Tokens whose signature was checked, by their exact text, until they expire: jose's HMAC check goes
 * through WebCrypto (a hop to the thread pool) and ran on every frame a client sends. Only the
 * signature is remembered; the token's row (revocation) is still read on every use. Bounded: least
 * recently used first out.
 */
export class VerifiedTokens {
  private readonly entries = new Map<string, { payload: JWTPayload; hash: string }>();

  constructor(private readonly capacity = 10_000) {}

  get(token: string, nowMs = Date.now()): { payload: JWTPayload; hash: string } | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    this.entries.delete(token);
    // Expired: forget it, so that the full check runs and says why.
    if (entry.payload.exp !== undefined && entry.payload.exp * 1000 <= nowMs) return undefined;
    this.entries.set(token, entry);
    return entry;
  }

  set(token: string, payload: JWTPayload, hash: string): void {
    this.entries.delete(token);
    this.entries.set(token, { payload, hash });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}
