import { MAX_JSON_DEPTH } from './json-safety.js';

/** What a request body may hold, checked on its bytes before JSON.parse spends any time on it. */
export interface JsonScanLimits {
  /** Most containers ({ or [) open at once; matches what PostgreSQL and V8 can take (json-safety.ts). */
  maxDepth: number;
  /** Most keys in any one object. */
  maxKeysPerObject: number;
  /** Most keys in the whole body. */
  maxKeys: number;
}

export const DEFAULT_JSON_SCAN_LIMITS: Readonly<JsonScanLimits> = Object.freeze({
  maxDepth: MAX_JSON_DEPTH,
  maxKeysPerObject: 10_000,
  maxKeys: 1_000_000,
});

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COLON = 0x3a;

/**
 * One pass over the bytes of a JSON text, tracking only string state and a stack of open containers:
 * a sentence naming the first limit the text breaks, or null. It does not validate JSON (JSON.parse
 * does that after); it makes sure JSON.parse and everything after it only ever see a bounded shape.
 * Linear in the input and allocation-free apart from two arrays of maxDepth + 1 entries.
 */
export function jsonScanProblem(bytes: Uint8Array, limits: JsonScanLimits = DEFAULT_JSON_SCAN_LIMITS): string | null {
  const isObject = new Uint8Array(limits.maxDepth + 1);
  const keys = new Uint32Array(limits.maxDepth + 1);
  let depth = 0;
  let total = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      continue;
    }
    switch (c) {
      case QUOTE:
        inString = true;
        break;
      case OPEN_OBJECT:
      case OPEN_ARRAY:
        if (depth >= limits.maxDepth) return `request body is nested more than ${limits.maxDepth} levels deep`;
        depth++;
        isObject[depth] = c === OPEN_OBJECT ? 1 : 0;
        keys[depth] = 0;
        break;
      case CLOSE_OBJECT:
      case CLOSE_ARRAY:
        if (depth > 0) depth--;
        break;
      case COLON:
        // outside strings a colon only ever follows a key
        if (depth > 0 && isObject[depth] === 1) {
          if (++keys[depth]! > limits.maxKeysPerObject) return `request body has an object with more than ${limits.maxKeysPerObject} keys`;
          if (++total > limits.maxKeys) return `request body has more than ${limits.maxKeys} keys in all`;
        }
        break;
    }
  }
  return null;
}
