/** The server refuses deeper values (PostgreSQL's jsonb limit, with headroom): say so up front. */
const MAX_DEPTH = 128;

/** Where a value stops being faithful JSON, and why. */
export interface JsonInfidelity {
  /** `args[0]`, `kwargs.x.y`, `result[3]`. */
  path: string;
  /** A sentence starting with the path. */
  message: string;
}

/**
 * The first value in `value` that JSON would not carry faithfully, or undefined when it all would.
 * JSON.stringify turns NaN, Infinity, undefined and functions into null (or drops them), Maps and Sets
 * into {}, Dates into strings and class instances into plain objects, and throws a bare TypeError on
 * BigInt and cycles. Arguments and results travel as JSON, so such a value would arrive changed:
 * refusing it, with its path, is the only honest answer. Class
 * instances pass: JSON keeps their own data, which is what crosses the wire. An object property whose value is `undefined`
 * counts as absent, as in JSON (and as TypeScript's optional properties read).
 */
export function findJsonInfidelity(value: unknown, path: string): JsonInfidelity | undefined {
  try {
    visit(value, path, 0, new Set());
    return undefined;
  } catch (e) {
    if (e instanceof Unfaithful) return { path: e.path, message: e.message };
    throw e;
  }
}

class Unfaithful extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/** Why each kind of value that is not an object, a string, a boolean or a number cannot travel as JSON. */
const NOT_JSON: Partial<Record<string, string>> = {
  undefined: 'undefined is not a JSON value (it would arrive as null); use null',
  bigint: 'a BigInt is not a JSON value; pass it as a string or a number',
  function: 'a function is not a JSON value (register it and pass its id, or pass its result)',
  symbol: 'a symbol is not a JSON value',
};

function visit(value: unknown, path: string, depth: number, ancestors: Set<object>): void {
  if (typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail(path, `${value} is not a JSON number (it would arrive as null)`);
    return;
  }
  const notJson = NOT_JSON[typeof value];
  if (notJson) fail(path, notJson);
  if (value === null) return;
  const obj = value as object;
  if (depth >= MAX_DEPTH) fail(path, `the value is nested more than ${MAX_DEPTH} levels deep`);
  if (ancestors.has(obj)) fail(path, 'the value refers to itself (a cycle); JSON cannot carry cycles');
  ancestors.add(obj);
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) {
      if (!(i in obj)) fail(`${path}[${i}]`, 'a hole in a sparse array would arrive as null');
      visit(obj[i], `${path}[${i}]`, depth + 1, ancestors);
    }
  } else {
    // Objects JSON would turn into something else ({} or a string); other objects (class instances,
    // process.env, objects of another realm: function code runs in a vm) keep their own data as JSON does.
    const lossy = lossyKind(obj);
    if (lossy) fail(path, `${lossy} JSON would turn it into ${jsonOf(obj)}`);
    for (const key of Object.keys(obj)) {
      const v = (obj as Record<string, unknown>)[key];
      if (v !== undefined) visit(v, `${path}${/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}`, depth + 1, ancestors);
    }
  }
  ancestors.delete(obj);
}

const LOSSY_TAGS = new Set(['Map', 'Set', 'WeakMap', 'WeakSet', 'Date', 'RegExp', 'Error', 'Promise', 'ArrayBuffer', 'SharedArrayBuffer']);

/** What an object is when JSON would not carry it faithfully, e.g. "a Map:"; undefined when it would. */
function lossyKind(obj: object): string | undefined {
  const tag = Object.prototype.toString.call(obj).slice(8, -1);
  if (LOSSY_TAGS.has(tag) || ArrayBuffer.isView(obj)) return `a ${ArrayBuffer.isView(obj) ? tag || 'typed array' : tag} is not a JSON value:`;
  return undefined;
}

function jsonOf(obj: object): string {
  const tag = Object.prototype.toString.call(obj);
  if (tag === '[object Map]' || tag === '[object Set]') return '{} (convert it, e.g. Object.fromEntries(map) or [...set])';
  if (tag === '[object Date]') return 'a string (pass date.toISOString() yourself)';
  if (ArrayBuffer.isView(obj)) return 'an object of numbered keys (pass Array.from(bytes) or base64)';
  return '{} or a string (convert it to plain data yourself)';
}

function fail(path: string, reason: string): never {
  throw new Unfaithful(path, `${path}: ${reason}`);
}
