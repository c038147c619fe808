import { TokenBuckets } from './token-bucket.js';
import { jsonProblem, storableJson } from '../../common/json-safety.js';
import { closeReason } from '../../common/close-reason.js';

describe('TokenBuckets', () => {
  it('allows a burst, then one request per 1/rate seconds, per key', () => {
    let now = 0;
    const b = new TokenBuckets(2, 3, 100, () => now);
    expect([b.take('a'), b.take('a'), b.take('a')]).toEqual([0, 0, 0]);
    expect(b.take('a')).toBe(500);
    expect(b.take('b')).toBe(0);
    now = 500;
    expect(b.take('a')).toBe(0);
    expect(b.take('a')).toBeGreaterThan(0);
  });

  it('stays bounded: full buckets are forgotten first', () => {
    let now = 0;
    const b = new TokenBuckets(1, 1, 10, () => now);
    for (let i = 0; i < 100; i++) b.take(`k${i}`);
    expect(b.size).toBeLessThanOrEqual(10);
    now = 10_000;
    b.take('new');
    expect(b.size).toBeLessThanOrEqual(10);
  });
});

describe('json safety', () => {
  it('finds depth, NUL and lone surrogates without recursion', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(jsonProblem(deep)).toMatch(/nested more than 128 levels/);
    expect(jsonProblem({ a: ['x\u0000'] })).toMatch(/body.a\[0\] contains a NUL/);
    expect(jsonProblem({ a: '\ud800' })).toMatch(/lone UTF-16 surrogate/);
    expect(jsonProblem({ a: '😀 fine', b: [1, { c: null }] })).toBeNull();
  });

  it('makes results storable', () => {
    expect(storableJson({ out: 'a\u0000b\udc00', ok: '😀' })).toEqual({ out: 'a\uFFFDb\uFFFD', ok: '😀' });
  });

  it('cuts websocket close reasons to 123 bytes on a character boundary', () => {
    const r = closeReason('é'.repeat(100));
    expect(Buffer.byteLength(r)).toBeLessThanOrEqual(123);
    expect(r).toBe('é'.repeat(61));
  });
});
