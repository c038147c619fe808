import { createHash } from 'node:crypto';

/**
 * The content hash of a function: sha256 hex of `${runtime}\n${source}`. The server computes it when a
 * function is registered; the agent recomputes it before it runs a task, so a function altered in transit
 * (or by a confused server) never runs under another function's identity, and an endpoint's allow-list
 * means the code it was written for. Node only (`@fx/protocol/node`): the browser bundle has no node:crypto.
 */
export function functionContentHash(runtime: string, source: string): string {
  return createHash('sha256').update(`${runtime}\n${source}`, 'utf8').digest('hex');
}
