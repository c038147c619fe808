import { Command, CommanderError } from 'commander';
import { parsePositiveInt, parsePositiveNumber } from './index.js';

function parse(args: string[]): { n?: number; t?: number; error?: string } {
  let error: string | undefined;
  const program = new Command()
    .exitOverride()
    .configureOutput({ writeErr: (s) => (error = s.trim()), writeOut: () => {} })
    .option('-n, --n <count>', 'a count', parsePositiveInt)
    .option('-t, --t <seconds>', 'a time', parsePositiveNumber);
  try {
    program.parse(args, { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
  }
  return { ...program.opts(), error };
}

describe('option parsers', () => {
  it('take positive whole numbers and positive numbers', () => {
    expect(parse(['-n', '3', '-t', '0.5'])).toEqual({ n: 3, t: 0.5, error: undefined });
  });

  it.each(['0', '-1', '1.5', 'x', ''])('refuse %j as a count with commander usage error', (v) => {
    expect(parse(['-n', v]).error).toBe(`error: option '-n, --n <count>' argument '${v}' is invalid. must be a positive whole number.`);
  });

  it.each(['0', '-2', 'Infinity', 'NaN', 'x'])('refuse %j as a time', (v) => {
    expect(parse(['-t', v]).error).toMatch(/is invalid\. must be a positive number\.$/);
  });
});
