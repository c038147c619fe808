import { assertFaithfulJson } from './json-faithful.js';
import { SerializationError, ValidationError } from './errors.js';

/** [1, <hole>, 3]: an array with a hole where index 1 was. */
function holey(): number[] {
  const a = [1, 2, 3];
  delete a[1];
  return a;
}

function refusal(value: unknown, path = 'args'): SerializationError {
  try {
    assertFaithfulJson(value, path);
  } catch (e) {
    expect(e).toBeInstanceOf(SerializationError);
    expect(e).toBeInstanceOf(ValidationError);
    return e as SerializationError;
  }
  throw new Error(`${String(value)} was accepted`);
}

describe('assertFaithfulJson', () => {
  it('accepts what JSON carries exactly, class instances included (their own data is what travels)', () => {
    for (const v of [
      [
        new (class Point {
          x = 1;
          y = [2];
        })(),
      ],
      { env: process.env },
      [1, 'a', true, null, -2.5],
      { a: [{ b: { c: 'd' } }], e: null },
      [],
      {},
      Object.create(null),
      { skipped: undefined, kept: 1 },
    ]) {
      expect(() => assertFaithfulJson(v, 'args')).not.toThrow();
    }
  });

  it.each([
    ['NaN', [NaN, 1], 'args[0]', /NaN is not a JSON number/],
    ['Infinity', [1, -Infinity], 'args[1]', /-Infinity/],
    ['undefined in an array', [undefined], 'args[0]', /undefined/],
    ['a function', [() => 1], 'args[0]', /function/],
    ['a symbol', [Symbol('s')], 'args[0]', /symbol/],
    ['a BigInt', [10n], 'args[0]', /BigInt/],
    ['a Map', [new Map([[1, 2]])], 'args[0]', /Map is not a JSON value.*Object\.fromEntries/],
    ['a Set', [new Set([1])], 'args[0]', /Set is not a JSON value/],
    ['a Date', [new Date(0)], 'args[0]', /toISOString/],
    ['a typed array', [new Uint8Array(2)], 'args[0]', /Uint8Array/],
    ['an Error', [{ e: new Error('x') }], 'args[0].e', /Error is not a JSON value/],
    ['a sparse array', [holey()], 'args[0][1]', /hole/],
  ])('refuses %s, naming the path', (_what, value, path, message) => {
    const e = refusal(value);
    expect(e.path).toBe(path);
    expect(e.code).toBe('SERIALIZATION_FAILED');
    expect(e.message).toMatch(message as RegExp);
  });

  it('names nested kwargs paths, quoting keys that are not identifiers', () => {
    expect(refusal({ x: { y: NaN } }, 'kwargs').path).toBe('kwargs.x.y');
    expect(refusal({ 'a b': [1, { c: undefined, d: 1n }] }, 'kwargs').path).toBe('kwargs["a b"][1].d');
  });

  it('refuses cycles and over-deep values with a sentence instead of a TypeError or a stack overflow', () => {
    const a: Record<string, unknown> = { n: 1 };
    a.self = a;
    expect(refusal({ a }, 'kwargs')).toMatchObject({ path: 'kwargs.a.self', message: expect.stringMatching(/cycle/) });
    let deep: unknown = 1;
    for (let i = 0; i < 200; i++) deep = [deep];
    expect(refusal([deep]).message).toMatch(/nested more than 128 levels/);
  });

  it('accepts the same object twice when it is not a cycle', () => {
    const shared = { v: 1 };
    expect(() => assertFaithfulJson([shared, shared, { shared }], 'args')).not.toThrow();
  });
});
