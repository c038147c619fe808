import { functionSource, toResourceName } from './function-source.js';
import { ValidationError } from './errors.js';

describe('functionSource', () => {
  it('sends arrows and function expressions as written', () => {
    expect(functionSource((a: number) => a + 1)).toMatch(/^\(a\)\s*=>/);
    expect(
      functionSource(async function named(x: number) {
        return x;
      }),
    ).toMatch(/^async function named\(x\)/);
  });

  it('turns methods into function expressions', () => {
    const obj = {
      double(x: number) {
        return x * 2;
      },
      async *pairs() {
        yield 1;
      },
    };
    const double = functionSource(obj.double);
    expect(double).toMatch(/^function double\s*\(x\)/);
    expect(new Function(`return (${double})`)()(21)).toBe(42);
    expect(functionSource(obj.pairs)).toMatch(/^async function\* pairs\s*\(\)/);
  });

  it('refuses native, bound and class values', () => {
    expect(() => functionSource(Math.max)).toThrow(ValidationError);
    expect(() => functionSource(((x: number) => x).bind(null))).toThrow(ValidationError);
    expect(() => functionSource(class A {})).toThrow(ValidationError);
    expect(() => functionSource('x => x')).toThrow(ValidationError);
  });
});

describe('toResourceName', () => {
  it('keeps valid names and repairs the rest', () => {
    expect(toResourceName('add', 'f')).toBe('add');
    expect(toResourceName('bound add', 'f')).toBe('bound-add');
    expect(toResourceName('', 'anonymous')).toBe('anonymous');
    expect(toResourceName('$$', 'anonymous')).toBe('anonymous');
  });
});
