import { ObjectName, ObjectPrefix } from './objects.js';
import { RefSyntaxError, replaceObjectRefs, replaceRefs, scanRefs } from './task-refs.js';

const A = '0b0e0f9a-3c1e-4b8e-9a51-5d2f2c1a0001';
const O = '0b0e0f9a-3c1e-4b8e-9a51-5d2f2c1a0002';
const SHA = 'a'.repeat(64);

describe('object references in args', () => {
  it('are collected apart from task references, at any depth', () => {
    const args = [{ $fx: 'ref', taskId: A }, { deep: [{ $fx: 'object', id: O }] }];
    const scan = scanRefs(args, 'args');
    expect(scan.refs).toEqual([{ $fx: 'ref', taskId: A }]);
    expect(scan.objects).toEqual([{ $fx: 'object', id: O }]);
  });

  it('refuses a malformed object reference with its path', () => {
    expect(() => scanRefs([{ x: { $fx: 'object', id: 'nope' } }], 'args')).toThrow(RefSyntaxError);
    expect(() => scanRefs([{ x: { $fx: 'object', id: O, extra: 1 } }], 'args')).toThrow(/args\[0\]\.x is not an object reference/);
  });

  it('stays in place when task references are substituted, and is swapped by replaceObjectRefs', () => {
    const args = [{ $fx: 'ref', taskId: A }, { $fx: 'object', id: O }, { $$fx: 'mine' }];
    const substituted = replaceRefs(args, () => 42, true);
    expect(substituted).toEqual([42, { $fx: 'object', id: O }, { $fx: 'mine' }]);
    const completed = replaceObjectRefs(args, (r) => ({ ...r, sha256: SHA, size: 3, encoding: 'bytes' }));
    expect(completed[1]).toEqual({ $fx: 'object', id: O, sha256: SHA, size: 3, encoding: 'bytes' });
    // task references and escaped keys are left alone, and untouched parts shared
    expect(completed[0]).toBe(args[0]);
    expect(completed[2]).toBe(args[2]);
    const plain = [1, { a: [2] }];
    expect(replaceObjectRefs(plain, () => 0)).toBe(plain);
  });

  it('with unescape, takes escaped keys off in the same pass, so a user value of the reference shape stays data', () => {
    const mine = { $$fx: 'object', id: O, sha256: SHA, size: 3, encoding: 'bytes' };
    const args = [{ $fx: 'object', id: A }, mine, { deep: [mine] }];
    const seen: string[] = [];
    const completed = replaceObjectRefs(args, (r) => (seen.push(r.id), { ...r, sha256: SHA, size: 1, encoding: 'json' }), true);
    expect(seen).toEqual([A]);
    const unescaped = { $fx: 'object', id: O, sha256: SHA, size: 3, encoding: 'bytes' };
    expect(completed).toEqual([{ $fx: 'object', id: A, sha256: SHA, size: 1, encoding: 'json' }, unescaped, { deep: [unescaped] }]);
  });
});

describe('object names', () => {
  it.each(['input/sample-17.fastq', 'a', 'runs/2026-12-02/out.json', 'x+y=z@v1'])('accepts %s', (n) => {
    expect(ObjectName.safeParse(n).success).toBe(true);
  });
  it.each(['/abs', 'trailing/', 'a//b', '../up', 'a/./b', 'a/..', 'sp ace', 'é', ''])('refuses %j', (n) => {
    expect(ObjectName.safeParse(n).success).toBe(false);
  });
  it('takes prefixes that end with a slash', () => {
    expect(ObjectPrefix.safeParse('input/').success).toBe(true);
    expect(ObjectPrefix.safeParse('in put/').success).toBe(false);
  });
});
