import type { Client } from '@fx/sdk';
import { CliError } from './cli.errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

interface Named {
  id: string;
  name: string;
  ownerId: string;
  createdAt: string;
}

/**
 * The one place a command turns what the user typed into an id: a UUID is taken as it is; anything else
 * is matched exactly against the names of what the caller can list, newest first. The listing also
 * holds others' public functions (and everything, for an admin), so when several match, the caller's
 * own win (`mine`, when known). None or several matches end the command with a sentence. (When the
 * server resolves names itself, this is where to switch.)
 */
export function pickByName<T extends Named>(kind: 'function' | 'endpoint', ref: string, candidates: readonly T[], mine?: string): T {
  let matches = candidates.filter((c) => c.name === ref).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  if (matches.length > 1 && mine !== undefined && matches.some((m) => m.ownerId === mine)) matches = matches.filter((m) => m.ownerId === mine);
  if (matches.length === 1) return matches[0]!;
  const list = kind === 'function' ? 'fx functions ls' : 'fx endpoints';
  if (matches.length === 0) throw new CliError(`no ${kind} is named "${ref}" (see "${list}"), and it is not ${kind === 'endpoint' ? 'an' : 'a'} ${kind} id`);
  throw new CliError(`${matches.length} ${kind}s are named "${ref}" (newest first: ${matches.map((m) => m.id).join(', ')}); pass one of these ids`);
}

/** A function id from an id or a name. */
export async function resolveFunction(client: Client, ref: string): Promise<string> {
  if (isUuid(ref)) return ref;
  return resolveName(client, 'function', ref, await client.listFunctions());
}

/** An endpoint id from an id or a name. */
export async function resolveEndpoint(client: Client, ref: string): Promise<string> {
  if (isUuid(ref)) return ref;
  return resolveName(client, 'endpoint', ref, await client.listEndpoints());
}

async function resolveName(client: Client, kind: 'function' | 'endpoint', ref: string, candidates: readonly Named[]): Promise<string> {
  // Who "mine" is costs a request, so it is asked only when the name is ambiguous.
  const ambiguous = candidates.filter((c) => c.name === ref).length > 1;
  const mine = ambiguous ? (await client.whoami()).user.id : undefined;
  return pickByName(kind, ref, candidates, mine).id;
}

/** A task id, which has no name: anything but a UUID is a usage error. */
export function checkTaskId(ref: string, what = 'task id'): string {
  if (!isUuid(ref)) throw new CliError(`"${ref}" is not a ${what} (a UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e)`, 2);
  return ref;
}
