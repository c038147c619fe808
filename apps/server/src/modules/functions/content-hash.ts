import { createHash } from 'node:crypto';

/** The agent computes the same hash before it runs a function (sha256 hex of runtime, newline, source). */
export function functionContentHash(runtime: string, source: string): string {
  return createHash('sha256').update(`${runtime}\n${source}`).digest('hex');
}
