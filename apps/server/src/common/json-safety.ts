/**
 * What PostgreSQL and V8 cannot take, found without recursion (a deep value must not overflow the
 * stack of the code that checks it): JSON nested deeper than MAX_JSON_DEPTH (JSON.stringify and jsonb
 * overflow their stacks), NUL characters (jsonb and text cannot store U+0000) and lone UTF-16
 * surrogates (not valid Unicode; jsonb refuses them).
 */
export const MAX_JSON_DEPTH = 128;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const LONE_SURROGATE_TEST = new RegExp(LONE_SURROGATE.source);
const isWellFormed = (s: string) => !LONE_SURROGATE_TEST.test(s);

/** A sentence naming the first problem in `value` (at `path`), or null when PostgreSQL can store it. */
export function jsonProblem(value: unknown, what = 'body', maxDepth = MAX_JSON_DEPTH): string | null {
  const stack: Array<[unknown, number, string]> = [[value, 0, what]];
  while (stack.length > 0) {
    const [v, depth, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return `${path} contains a NUL character (\\u0000), which cannot be stored`;
      if (!isWellFormed(v)) return `${path} contains a lone UTF-16 surrogate, which is not valid Unicode`;
    } else if (v !== null && typeof v === 'object') {
      if (depth >= maxDepth) return `${path} is nested more than ${maxDepth} levels deep`;
      if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], depth + 1, `${path}[${i}]`]);
      else
        for (const [k, x] of Object.entries(v)) {
          if (k.includes('\u0000') || !isWellFormed(k)) return `${path} has a key with a NUL character or a lone surrogate`;
          stack.push([x, depth + 1, `${path}.${k}`]);
        }
    }
  }
  return null;
}

/**
 * For values that must be stored anyway (a task's result): NULs and lone surrogates become U+FFFD.
 * Call only on values that passed the depth check (this one recurses).
 */
export function storableJson<T>(value: T): T {
  if (typeof value === 'string')
    return (value.includes('\u0000') || !isWellFormed(value) ? value.replace(LONE_SURROGATE, '\uFFFD').replaceAll('\u0000', '\uFFFD') : value) as T;
  if (Array.isArray(value)) return value.map((x) => storableJson(x)) as T;
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, x]) => [storableJson(k), storableJson(x)])) as T;
  return value;
}

/** Keys that name an object's prototype machinery: JSON.parse keeps them, and code that copies objects drops or misreads them. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * A sentence naming the first reserved key (`__proto__`, `constructor`, `prototype`) anywhere in
 * `value`, or null. Run on a parsed body before the schema sees it: the schema would silently drop
 * `__proto__`, and a worker would then run the task with arguments other than those submitted.
 */
export function reservedKeyProblem(value: unknown, what = 'body'): string | null {
  const stack: Array<[unknown, string]> = [[value, what]];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}[${i}]`]);
      continue;
    }
    for (const k of Object.keys(v)) {
      if (RESERVED_KEYS.has(k)) return `${path}.${k} uses a reserved key name (__proto__, constructor and prototype are refused anywhere in a request)`;
      stack.push([(v as Record<string, unknown>)[k], `${path}.${k}`]);
    }
  }
  return null;
}
