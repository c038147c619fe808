import { createHash } from 'node:crypto';

/** The settings of a function besides its runtime and source that change what it does when run. */
export interface FunctionContentSettings {
  /** python: the function of the source a task calls. */
  entrypoint?: string | null;
  /** shell: a non-zero exit fails the task. */
  failOnNonZeroExit?: boolean;
  /** shell: stdout lines starting with this are progress values (live.ts). */
  progressPrefix?: string | null;
}

/**
 * The content hash of a function: sha256 hex of `${runtime}\n${source}` for a function with no settings
 * (every js, mpi and plain shell function, so hashes stored before settings existed still verify), and of
 * `${runtime} entrypoint=${JSON.stringify(entrypoint)} failOnNonZeroExit progressPrefix=${JSON.stringify(progressPrefix)}\n${source}` (each part only when
 * set) otherwise. The runtime has no space or newline and a JSON string no raw newline, so no two
 * functions share the text hashed. The server computes it when a function is registered; the agent
 * recomputes it before it runs a task, so a function altered in transit (or by a confused server), its
 * entry point or its exit policy included, never runs under another function's identity, and an
 * endpoint's allow-list means the code it was written for. Node only (`@fx/protocol/node`): the browser
 * bundle has no node:crypto.
 */
export function functionContentHash(runtime: string, source: string, settings: FunctionContentSettings = {}): string {
  let header = runtime;
  if (settings.entrypoint !== undefined && settings.entrypoint !== null) header += ` entrypoint=${JSON.stringify(settings.entrypoint)}`;
  if (settings.failOnNonZeroExit === true) header += ' failOnNonZeroExit';
  if (settings.progressPrefix !== undefined && settings.progressPrefix !== null) header += ` progressPrefix=${JSON.stringify(settings.progressPrefix)}`;
  return createHash('sha256').update(`${header}\n${source}`, 'utf8').digest('hex');
}
