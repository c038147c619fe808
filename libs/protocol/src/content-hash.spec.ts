import { functionContentHash } from './node.js';

describe('functionContentHash', () => {
  it('is the sha256 hex of runtime, a newline, and the source', () => {
    // printf 'js\n(a) => a' | sha256sum
    expect(functionContentHash('js', '(a) => a')).toBe('874a610603dbf43a156299299cb22be36825ff3b14d0bfea6408a8378b951ef9');
  });
  it('depends on the runtime as well as the source', () => {
    expect(functionContentHash('shell', '(a) => a')).not.toBe(functionContentHash('js', '(a) => a'));
  });
});
