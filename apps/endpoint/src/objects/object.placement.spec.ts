import type { ObjectRef } from '@fx/protocol';
import { findObjectRefs, setAt } from './object.placement.js';

const ref = (n: number, encoding: 'bytes' | 'json' = 'bytes'): ObjectRef => ({
  $fx: 'object',
  id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  sha256: String(n % 10).repeat(64),
  size: n,
  encoding,
});

describe('object references in task arguments', () => {
  it('finds complete references at any depth in args and kwargs, with their paths', () => {
    const args = [ref(1), { deep: [0, { x: ref(2, 'json') }] }];
    const kwargs = { k: ref(3), list: [[ref(1)]] };
    expect(findObjectRefs(args, kwargs, [ref(1), ref(2, 'json'), ref(3)])).toEqual([
      { at: ['args', 0], ref: ref(1) },
      { at: ['args', 1, 'deep', 1, 'x'], ref: ref(2, 'json') },
      { at: ['kwargs', 'k'], ref: ref(3) },
      { at: ['kwargs', 'list', 0, 0], ref: ref(1) },
    ]);
  });

  it('treats anything but a complete reference as user data, and looks inside it', () => {
    const partial = { $fx: 'object', id: ref(1).id };
    const other = { $fx: 'kept', inner: ref(4) };
    const extra = { ...ref(5), path: '/etc/passwd' };
    expect(findObjectRefs([partial, other, extra, 'plain', null], {}, [ref(1), ref(4), ref(5)])).toEqual([{ at: ['args', 1, 'inner'], ref: ref(4) }]);
  });

  it('finds only references equal to one the server checked: any other of that shape is user data', () => {
    const args = [ref(1), { ...ref(2), sha256: ref(1).sha256 }, { ...ref(3), size: 4 }, { ...ref(6), encoding: 'json' }, { x: ref(7) }];
    expect(findObjectRefs(args, { k: ref(7) }, [ref(2), ref(3), ref(6), ref(7)])).toEqual([
      { at: ['args', 4, 'x'], ref: ref(7) },
      { at: ['kwargs', 'k'], ref: ref(7) },
    ]);
    expect(findObjectRefs(args, {}, [])).toEqual([]);
    // ids are compared as the server stores them (lower case)
    const mixed = { ...ref(8), id: 'abcdef00-0000-4000-8000-000000000008' };
    expect(findObjectRefs([{ ...mixed, id: mixed.id.toUpperCase() }], {}, [mixed])).toHaveLength(1);
  });

  it('sets values in place as own data properties, never through a prototype', () => {
    const args: unknown[] = [ref(1), { __proto__: ref(2) } as unknown];
    const parsed = JSON.parse('[{"__proto__":{"$fx":"object"}}]') as unknown[];
    const roots = { args: parsed, kwargs: { a: [ref(3)] } as Record<string, unknown> };
    expect(setAt(roots, ['args', 0, '__proto__'], 'content')).toBe(true);
    expect(Object.getPrototypeOf(parsed[0])).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(parsed[0], '__proto__')?.value).toBe('content');
    expect(setAt(roots, ['kwargs', 'a', 0], Buffer.from('x'))).toBe(true);
    expect(roots.kwargs.a).toEqual([Buffer.from('x')]);
    expect(setAt({ args, kwargs: {} }, ['args', 0], 'v')).toBe(true);
    expect(args[0]).toBe('v');
    expect(setAt({ args, kwargs: {} }, ['args', 9, 'x'], 'v')).toBe(false);
    expect(setAt({ args, kwargs: {} }, ['kwargs', 'toString'], 'v')).toBe(false);
  });
});
