import { jsonScanProblem } from './json-scan.js';

const scan = (text: string, limits = { maxDepth: 4, maxKeysPerObject: 3, maxKeys: 5 }) => jsonScanProblem(Buffer.from(text, 'utf8'), limits);

describe('jsonScanProblem', () => {
  it('accepts what fits the limits', () => {
    expect(scan('{"a":[[1]],"b":{"c":2},"d":"x"}')).toBeNull();
    expect(scan('[[[[1]]]]')).toBeNull();
    expect(scan('')).toBeNull();
  });

  it('refuses nesting past the depth limit, objects and arrays alike', () => {
    expect(scan('[[[[[1]]]]]')).toMatch(/nested more than 4 levels/);
    expect(scan('{"a":{"b":{"c":{"d":{}}}}}')).toMatch(/nested more than 4 levels/);
    // the default is the 128 levels PostgreSQL storage allows
    expect(jsonScanProblem(Buffer.from('['.repeat(128) + ']'.repeat(128)))).toBeNull();
    expect(jsonScanProblem(Buffer.from('['.repeat(129) + ']'.repeat(129)))).toMatch(/more than 128 levels/);
  });

  it('counts keys per object and per body', () => {
    expect(scan('{"a":1,"b":2,"c":3,"d":4}')).toMatch(/object with more than 3 keys/);
    expect(scan('[{"a":1,"b":2},{"a":1,"b":2},{"a":1,"b":2}]')).toMatch(/more than 5 keys in all/);
    // a sibling object starts its own count
    expect(scan('[{"a":1,"b":2,"c":3},{"a":1}]')).toBeNull();
  });

  it('ignores brackets, colons and escaped quotes inside strings', () => {
    expect(scan('{"a":"[[[[[[:::{{{{","b":"\\"[[[[[[:\\\\"}')).toBeNull();
    expect(scan('["\\\\",[[[1]]]]')).toBeNull();
    expect(scan('["\\\\",[[[[1]]]]]')).toMatch(/nested/);
    // colons in an array are not keys
    expect(scan('["a:b","c:d","e:f","g:h","i:j","k:l"]')).toBeNull();
  });

  it('finds the limit in a large body quickly enough to be linear', () => {
    const deep = Buffer.from('['.repeat(4_000_000) + ']'.repeat(4_000_000));
    expect(jsonScanProblem(deep)).toMatch(/nested/);
    const wide = Buffer.from(`{${Array.from({ length: 500_000 }, (_, i) => `"k${i}":0`).join(',')}}`);
    expect(jsonScanProblem(wide)).toMatch(/more than 10000 keys/);
  });
});
