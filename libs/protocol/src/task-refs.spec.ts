import { RefSyntaxError, encodeRefs, escapeRefKey, replaceRefs, scanRefs, type TaskRefValue } from './task-refs.js';

const A = '0b0e0f9a-3c1e-4b8e-9a51-5d2f2c1a0001';

describe('task references in args', () => {
  it('finds references at any depth, in arrays and objects', () => {
    const scan = scanRefs([1, { x: [{ $fx: 'ref', taskId: A }] }, { $fx: 'ref', index: 2 }], 'args');
    expect(scan).toEqual({
      objects: [],
      refs: [
        { $fx: 'ref', taskId: A },
        { $fx: 'ref', index: 2 },
      ],
      escaped: false,
    });
    expect(scanRefs({ a: 1, b: 'x' }, 'kwargs')).toEqual({ refs: [], objects: [], escaped: false });
  });

  it('refuses an object with the reserved key that is no reference, naming its path', () => {
    for (const bad of [{ $fx: 'ref' }, { $fx: 'ref', taskId: 'nope' }, { $fx: 'ref', index: -1 }, { $fx: 'ref', taskId: A, extra: 1 }, { $fx: 'lit' }]) {
      expect(() => scanRefs([0, { k: bad }], 'args')).toThrow(RefSyntaxError);
    }
    expect(() => scanRefs([0, { k: { $fx: 1 } }], 'args')).toThrow(/args\[1\]\.k has the reserved key/);
  });

  it('escapes user keys with one more $, and unescapes them for the worker', () => {
    expect(escapeRefKey('$fx')).toBe('$$fx');
    expect(escapeRefKey('$$fx')).toBe('$$$fx');
    expect(escapeRefKey('fx')).toBe('fx');
    const user = [{ $fx: 'mine', $$fx: 2, other: { $fx: [1] } }];
    const wire = encodeRefs(user, () => undefined);
    expect(wire).toEqual([{ $$fx: 'mine', $$$fx: 2, other: { $$fx: [1] } }]);
    expect(scanRefs(wire, 'args')).toEqual({ refs: [], objects: [], escaped: true });
    expect(replaceRefs(wire, (r) => r, true)).toEqual(user);
  });

  it('replaces references, sharing what holds none', () => {
    const plain = { deep: [1, 2, 3] };
    const args = [plain, { $fx: 'ref', taskId: A }, [{ $fx: 'ref', taskId: A }]];
    const out = replaceRefs(args, (r: TaskRefValue) => ('taskId' in r ? `result of ${r.taskId}` : null), true);
    expect(out).toEqual([plain, `result of ${A}`, [`result of ${A}`]]);
    expect(out[0]).toBe(plain);
    const none = [plain];
    expect(replaceRefs(none, () => 0, true)).toBe(none);
  });

  it('encodes what the SDK recognises as a reference, and copies nothing otherwise', () => {
    class Handle {
      constructor(readonly id: string) {}
    }
    const asRef = (v: object): TaskRefValue | undefined => (v instanceof Handle ? { $fx: 'ref', taskId: v.id } : undefined);
    expect(encodeRefs([new Handle(A), { n: [new Handle(A)] }], asRef)).toEqual([{ $fx: 'ref', taskId: A }, { n: [{ $fx: 'ref', taskId: A }] }]);
    const args = [1, { a: 'b' }];
    expect(encodeRefs(args, asRef)).toBe(args);
  });
});
