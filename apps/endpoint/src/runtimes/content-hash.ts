import { createHash } from 'node:crypto';

/**
 * The content hash of a function: sha256 hex of `${runtime}\n${source}`. The server computes the same
 * value when a function is registered; the agent recomputes it before running a task so that a function
 * altered in transit (or by a confused server) never runs under another function's identity.
 */
export function functionContentHash(runtime: string, source: string): string {
  return createHash('sha256').update(`${runtime}\n${source}`, 'utf8').digest('hex');
}
