import { cacheKey, cacheScope, cacheTtl, canonicalJson, clearableScopes } from './cache-key.js';

const ALICE = 'aaaaaaaa-0000-4000-8000-000000000001';
const BOB = 'bbbbbbbb-0000-4000-8000-000000000002';
const HASH = 'sha256:abc';
const pickled = (data: string) => ({ $fx: 'pickle' as const, python: '3.12', pickler: 'pickle' as const, data });

describe('canonicalJson', () => {
  it('sorts keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
  });

  it('writes scalars as JSON does, and the same value the same way however it was spelled', () => {
    expect(canonicalJson(JSON.parse('1.0'))).toBe(canonicalJson(1));
    expect(canonicalJson('a"\u00e9')).toBe(JSON.stringify('a"\u00e9'));
    expect(canonicalJson(JSON.parse('{"x": 1, "y": [true, "s"]}'))).toBe(canonicalJson(JSON.parse('{"y":[true,"s"],"x":1}')));
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
  });

  it('keeps apart values that differ only in type', () => {
    expect(canonicalJson(['1'])).not.toBe(canonicalJson([1]));
    expect(canonicalJson({})).not.toBe(canonicalJson([]));
    expect(canonicalJson(null)).not.toBe(canonicalJson('null'));
  });
});

describe('cacheScope', () => {
  const fn = { ownerId: ALICE, public: true, cacheShareable: true };

  it('is the caller unless the function is both public and shareable', () => {
    expect(cacheScope(BOB, { ...fn, public: false })).toBe(`user:${BOB}`);
    expect(cacheScope(BOB, { ...fn, cacheShareable: false })).toBe(`user:${BOB}`);
    expect(cacheScope(ALICE, { ...fn, public: false })).toBe(`user:${ALICE}`);
  });

  it('is the function owner for every caller of a public shareable function', () => {
    expect(cacheScope(BOB, fn)).toBe(`shared:${ALICE}`);
    expect(cacheScope(ALICE, fn)).toBe(cacheScope(BOB, fn));
  });
});

describe('cacheKey', () => {
  const key = (scope: string, args: unknown[], kwargs: Record<string, unknown> = {}, hash = HASH) => cacheKey(scope, hash, { args, kwargs });

  it('is the same for the same arguments however their keys are ordered', () => {
    expect(key('user:a', [{ x: 1, y: 2 }], { k: { b: 1, a: 2 } })).toBe(key('user:a', [{ y: 2, x: 1 }], { k: { a: 2, b: 1 } }));
    expect(key('user:a', [1])).toMatch(/^[0-9a-f]{64}$/);
  });

  it('stays the key entries already stored were made under (a faster digest or canonical form must give the same text)', () => {
    // computed by the first implementation (map/join canonical JSON, a Hash object): a different key would
    // make every stored entry unreachable until it expires
    expect(key('user:u1', [1, 'x', { b: [null, true], a: 1.5 }], { z: {}, y: [] }, 'h1')).toBe(
      'a4c8d1195bb3aa56b81e8455f51b35d8df58d97d54553e40dba1357c24382681',
    );
  });

  it('differs by scope, function content, args, kwargs, and args against kwargs', () => {
    const base = key('user:a', [1], { n: 2 });
    expect(key('user:b', [1], { n: 2 })).not.toBe(base);
    expect(key('user:a', [1], { n: 2 }, 'sha256:other')).not.toBe(base);
    expect(key('user:a', [2], { n: 2 })).not.toBe(base);
    expect(key('user:a', [1], { n: 3 })).not.toBe(base);
    expect(key('user:a', [], { 0: 1 })).not.toBe(key('user:a', [1]));
  });

  it('takes a pickle task by its pickled bytes, apart from any JSON task', () => {
    const a = cacheKey('user:a', HASH, { args: [], kwargs: {}, pickledArgs: pickled('gAR=') });
    expect(cacheKey('user:a', HASH, { args: [], kwargs: {}, pickledArgs: pickled('gAR=') })).toBe(a);
    expect(cacheKey('user:a', HASH, { args: [], kwargs: {}, pickledArgs: pickled('gAS=') })).not.toBe(a);
    expect(cacheKey('user:a', HASH, { args: [], kwargs: {}, pickledArgs: { ...pickled('gAR='), python: '3.11' } })).not.toBe(a);
    expect(cacheKey('user:a', HASH, { args: [], kwargs: {} })).not.toBe(a);
  });
});

describe('cacheTtl', () => {
  const bounds = { defaultTtlSeconds: 100, maxTtlSeconds: 1000 };

  it("follows the function's registration when the task says nothing", () => {
    expect(cacheTtl(undefined, null, bounds)).toBeNull();
    expect(cacheTtl(undefined, 60, bounds)).toBe(60);
  });

  it('lets a task opt in (function TTL, else the default) or out', () => {
    expect(cacheTtl(true, null, bounds)).toBe(100);
    expect(cacheTtl(true, 60, bounds)).toBe(60);
    expect(cacheTtl(false, 60, bounds)).toBeNull();
  });

  it('bounds every TTL by the server maximum', () => {
    expect(cacheTtl(undefined, 5000, bounds)).toBe(1000);
    expect(cacheTtl(true, null, { defaultTtlSeconds: 5000, maxTtlSeconds: 1000 })).toBe(1000);
  });
});

describe('clearableScopes', () => {
  it("is the caller's own scope, and the shared one for the function's owner or an admin", () => {
    expect(clearableScopes({ userId: BOB, admin: false }, { ownerId: ALICE })).toEqual([`user:${BOB}`]);
    expect(clearableScopes({ userId: ALICE, admin: false }, { ownerId: ALICE })).toEqual([`user:${ALICE}`, `shared:${ALICE}`]);
    expect(clearableScopes({ userId: BOB, admin: true }, { ownerId: ALICE })).toEqual([`user:${BOB}`, `shared:${ALICE}`]);
  });
});
