import { InvalidArgumentError } from 'commander';
import { CliError } from '@fx/cli-kit';
import { parseArgsFile, parseJsonArray, parseJsonObject, parsePriority, parseSince } from './parse.js';

describe('parseArgsFile', () => {
  it('reads one JSON array of arguments per line, skipping blank lines', () => {
    expect(parseArgsFile('[1, 2]\n\n  ["a", {"b": null}]  \n[]\n', 'tasks.jsonl')).toEqual([[1, 2], ['a', { b: null }], []]);
  });

  it('names the file and line of invalid JSON, as a usage error', () => {
    const error = (() => {
      try {
        parseArgsFile('[1]\n[2]\n\n[3,\n', 'tasks.jsonl');
      } catch (e) {
        return e;
      }
    })() as CliError;
    expect(error).toBeInstanceOf(CliError);
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/^tasks\.jsonl:4: not valid JSON/);
  });

  it('names the line of a value that is not an array', () => {
    expect(() => parseArgsFile('[1]\n{"a": 1}\n', 'f.jsonl')).toThrow('f.jsonl:2: expected a JSON array of arguments, e.g. [1, 2], got an object');
    expect(() => parseArgsFile('7', 'f.jsonl')).toThrow('f.jsonl:1: expected a JSON array of arguments, e.g. [1, 2], got a number');
  });

  it('refuses a file without tasks', () => {
    expect(() => parseArgsFile('\n  \n', 'empty.jsonl')).toThrow(/empty\.jsonl: no tasks/);
  });
});

describe('parseSince', () => {
  const now = Date.parse('2026-12-02T12:00:00.000Z');

  it('takes durations back from now', () => {
    expect(parseSince('10m', now)).toBe('2026-12-02T11:50:00.000Z');
    expect(parseSince('2h', now)).toBe('2026-12-02T10:00:00.000Z');
    expect(parseSince('30s', now)).toBe('2026-12-02T11:59:30.000Z');
    expect(parseSince('7d', now)).toBe('2026-11-25T12:00:00.000Z');
  });

  it('takes ISO 8601 instants and dates, reading a time without a zone as UTC', () => {
    expect(parseSince('2026-12-01T10:00:00Z', now)).toBe('2026-12-01T10:00:00.000Z');
    expect(parseSince('2026-12-01T10:00:00+02:00', now)).toBe('2026-12-01T08:00:00.000Z');
    expect(parseSince('2026-12-01T10:00', now)).toBe('2026-12-01T10:00:00.000Z');
    expect(parseSince('2026-12-01', now)).toBe('2026-12-01T00:00:00.000Z');
  });

  it('refuses anything else as a usage error', () => {
    for (const bad of ['yesterday', '10', '5y', '2026-13-45', '']) expect(() => parseSince(bad, now)).toThrow(InvalidArgumentError);
  });
});

describe('--args and --kwargs', () => {
  it('take a JSON array and a JSON object', () => {
    expect(parseJsonArray('[1, "x"]')).toEqual([1, 'x']);
    expect(parseJsonObject('{"a": [1]}')).toEqual({ a: [1] });
    expect(() => parseJsonArray('{"a": 1}')).toThrow(/JSON array/);
    expect(() => parseJsonObject('[1]')).toThrow(/JSON object/);
    expect(() => parseJsonArray('[1,')).toThrow(/not valid JSON/);
  });
});

describe('parsePriority', () => {
  it('takes a whole number from 0 to 9 and refuses anything else with the range', () => {
    expect(['0', '5', '9'].map(parsePriority)).toEqual([0, 5, 9]);
    for (const bad of ['10', '-1', '4.5', '', 'high']) expect(() => parsePriority(bad)).toThrow('must be a whole number from 0 to 9 (higher goes first).');
  });
});
