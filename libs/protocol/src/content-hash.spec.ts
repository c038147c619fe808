import { createHash } from 'node:crypto';
import { functionContentHash } from './node.js';

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

describe('functionContentHash', () => {
  it('is the sha256 hex of runtime, a newline, and the source', () => {
    // printf 'js\n(a) => a' | sha256sum
    expect(functionContentHash('js', '(a) => a')).toBe('874a610603dbf43a156299299cb22be36825ff3b14d0bfea6408a8378b951ef9');
  });
  it('depends on the runtime as well as the source', () => {
    expect(functionContentHash('shell', '(a) => a')).not.toBe(functionContentHash('js', '(a) => a'));
  });
  it('is unchanged for functions without settings (stored hashes still verify)', () => {
    const plain = functionContentHash('shell', 'echo {x}');
    expect(functionContentHash('shell', 'echo {x}', { failOnNonZeroExit: false })).toBe(plain);
    expect(functionContentHash('shell', 'echo {x}', { entrypoint: null })).toBe(plain);
    expect(plain).toBe(sha256('shell\necho {x}'));
  });
  it('covers the entry point and the exit policy', () => {
    const source = 'def main():\n    return 1\n\ndef other():\n    return 2\n';
    const main = functionContentHash('python', source, { entrypoint: 'main' });
    expect(main).toBe(sha256(`python entrypoint="main"\n${source}`));
    expect(functionContentHash('python', source, { entrypoint: 'other' })).not.toBe(main);
    expect(functionContentHash('python', source)).not.toBe(main);
    expect(functionContentHash('shell', 'exit 3', { failOnNonZeroExit: true })).toBe(sha256('shell failOnNonZeroExit\nexit 3'));
    expect(functionContentHash('shell', 'exit 3', { failOnNonZeroExit: true })).not.toBe(functionContentHash('shell', 'exit 3'));
  });
  it('covers a progress prefix only when set (hashes of functions without one do not change)', () => {
    expect(functionContentHash('shell', 'echo {x}', { progressPrefix: null })).toBe(sha256('shell\necho {x}'));
    expect(functionContentHash('shell', 'echo {x}', { progressPrefix: 'PROGRESS ' })).toBe(sha256('shell progressPrefix="PROGRESS "\necho {x}'));
    expect(functionContentHash('shell', 'exit 3', { failOnNonZeroExit: true, progressPrefix: '@' })).toBe(
      sha256('shell failOnNonZeroExit progressPrefix="@"\nexit 3'),
    );
  });
  it('cannot be matched by moving a setting into the source', () => {
    // the header ends at the first newline, and a JSON string holds none
    expect(functionContentHash('python', 'x', { entrypoint: 'a' })).not.toBe(functionContentHash('python', 'entrypoint="a"\nx'));
    expect(functionContentHash('python', 'b', { entrypoint: 'a\nb' })).not.toBe(functionContentHash('python', 'b', { entrypoint: 'a' }));
  });
});
