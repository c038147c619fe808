import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

/** The commands the broker's Lua scripts add to its ioredis connection. */
export interface BrokerScripts {
  fxEnqueue(q: string, pl: string, pf: string, ...idPriorityOwnerTriples: Array<string | number>): Promise<number>;
  fxClaim(q: string, pl: string, pf: string, consumerId: string, max: number): Promise<string[]>;
  fxSettle(pl: string, ...taskIds: string[]): Promise<number>;
  fxRelease(q: string, pl: string, consumerId: string): Promise<string[]>;
  fxReclaim(numKeys: number, ...queuePendingPairsThenMinIdleMs: Array<string | number>): Promise<number[]>;
}

export type ScriptedRedis = Redis & BrokerScripts;

interface ScriptSpec {
  /** The file in the scripts folder. */
  file: string;
  /** How many leading arguments are keys; absent when the caller passes the count first (any number of keys). */
  numberOfKeys?: number;
}

/**
 * Every script, by the command name it gets. The key counts live here, beside the typed signatures
 * above, rather than in the files: the two must agree, and here a reviewer sees both at once.
 */
export const BROKER_SCRIPTS = {
  fxEnqueue: { file: 'enqueue.lua', numberOfKeys: 3 },
  fxClaim: { file: 'claim.lua', numberOfKeys: 3 },
  fxSettle: { file: 'settle.lua', numberOfKeys: 1 },
  fxRelease: { file: 'release.lua', numberOfKeys: 2 },
  fxReclaim: { file: 'reclaim.lua' },
} as const satisfies Record<keyof BrokerScripts, ScriptSpec>;

/**
 * Where the scripts are: lua/ beside this module, in src when run from source and in dist once built
 * (the server's build copies src/storage/lua there, since tsc copies only what it compiles).
 */
export const DEFAULT_SCRIPTS_DIR = fileURLToPath(new URL('./lua/', import.meta.url));

export interface LoadedScript {
  lua: string;
  numberOfKeys?: number;
}

/** A line `--- @include "includes/name"` (BullMQ's syntax) is replaced by includes/name.lua. */
const INCLUDE = /^--- @include "([^"]+)"[ \t]*$/gm;

/**
 * Reads every script, with its includes, from `dir`. A missing or unreadable file fails here, at
 * start-up, with a sentence naming the file, instead of a NOSCRIPT-like surprise at the first enqueue.
 */
export async function loadBrokerScripts(dir: string = DEFAULT_SCRIPTS_DIR): Promise<Record<keyof BrokerScripts, LoadedScript>> {
  const read = async (file: string): Promise<string> => {
    const path = join(dir, file);
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      throw new Error(
        `cannot read the Redis broker's Lua script ${file} at ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ` +
          'the build copies apps/server/src/storage/lua to dist/storage/lua; rebuild the server',
        { cause: err },
      );
    }
  };
  const expand = async (file: string, seen: Set<string>): Promise<string> => {
    const text = await read(file);
    const parts: string[] = [];
    let last = 0;
    for (const m of text.matchAll(INCLUDE)) {
      const included = `${m[1]!}.lua`;
      parts.push(text.slice(last, m.index));
      // Each include once per script, however many files ask for it: a second copy would redefine its locals.
      if (!seen.has(included)) {
        seen.add(included);
        parts.push(await expand(included, seen));
      }
      last = m.index! + m[0].length;
    }
    parts.push(text.slice(last));
    return parts.join('');
  };
  const entries = await Promise.all(
    Object.entries(BROKER_SCRIPTS).map(async ([name, spec]: [string, ScriptSpec]) => {
      const script: LoadedScript = { lua: await expand(spec.file, new Set()) };
      if (spec.numberOfKeys !== undefined) script.numberOfKeys = spec.numberOfKeys;
      return [name, script] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<keyof BrokerScripts, LoadedScript>;
}

/** Adds each script to the connection as a command (ioredis runs it by EVALSHA, loading it on NOSCRIPT). */
export function defineBrokerScripts(redis: Redis, scripts: Record<keyof BrokerScripts, LoadedScript>): ScriptedRedis {
  for (const [name, script] of Object.entries(scripts)) redis.defineCommand(name, script);
  return redis as ScriptedRedis;
}
