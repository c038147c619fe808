import { Uuid } from '@fx/protocol';
import { firingTaskId, loopProblem, outputName, overlaps } from './trigger-rules.js';

const t = (id: string, prefix: string, outputPrefix: string | null) => ({ id, prefix, outputPrefix });

describe('trigger rules', () => {
  it('prefixes overlap when one starts with the other', () => {
    expect(overlaps('input/', 'input/a')).toBe(true);
    expect(overlaps('in', 'input/')).toBe(true);
    expect(overlaps('input/', 'output/')).toBe(false);
  });

  it('refuses a trigger whose outputs land under its own prefix', () => {
    expect(loopProblem(t('a', 'data/', 'data/out/'), [])).toMatch(/would fire it again without end/);
    expect(loopProblem(t('a', 'input/', 'output/'), [])).toBeNull();
    expect(loopProblem(t('a', 'input/', null), [])).toBeNull();
  });

  it('refuses a loop through the caller other triggers, and allows a chain', () => {
    const b = t('b', 'output/', 'input/');
    expect(loopProblem(t('a', 'input/', 'output/'), [b])).toMatch(
      /through your other triggers \("input\/" → "output\/", then "output\/" → "input\/", then "input\/" → "output\/"\)/,
    );
    // input/ → mid/ → final/ is a pipeline, not a loop
    expect(loopProblem(t('a', 'input/', 'mid/'), [t('b', 'mid/', 'final/')])).toBeNull();
  });

  it('names outputs after the part of the input name under the prefix', () => {
    expect(outputName('input/run-1/sample.fastq', 'input/', 'output/')).toBe('output/run-1/sample.fastq');
    expect(outputName('in-17.csv', 'in-', 'out-')).toBe('out-17.csv');
  });

  it('gives one task id per trigger and object, a valid UUID', () => {
    const a = '0b0e0f9a-3c1e-4b8e-9a51-5d2f2c1a0001';
    const o = '0b0e0f9a-3c1e-4b8e-9a51-5d2f2c1a0002';
    expect(firingTaskId(a, o)).toBe(firingTaskId(a, o));
    expect(firingTaskId(a, o)).not.toBe(firingTaskId(o, a));
    expect(Uuid.safeParse(firingTaskId(a, o)).success).toBe(true);
  });
});
