import { InvalidArgumentError } from 'commander';
import { CliError } from '@fx/cli-kit';
import { MAX_TASK_PRIORITY, MIN_TASK_PRIORITY } from '@fx/protocol';

/** The most lines `fx batch` reads from one args file (every line is one task). */
export const MAX_ARGS_FILE_LINES = 1_000_000;

/**
 * An args file: one JSON array of positional arguments per line (JSON Lines). Blank lines are
 * skipped; anything else that is not an array fails with its line number.
 */
export function parseArgsFile(text: string, file: string): unknown[][] {
  const tasks: unknown[][] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const args = parseArgsLine(lines[i]!, file, i + 1);
    if (args === undefined) continue;
    tasks.push(args);
    if (tasks.length > MAX_ARGS_FILE_LINES) throw new CliError(`${file}: more than ${MAX_ARGS_FILE_LINES} tasks; split it into several batches`, 2);
  }
  if (tasks.length === 0) throw new CliError(`${file}: no tasks (the file has no non-blank lines)`, 2);
  return tasks;
}

/** One line of an args file: its arguments, or undefined for a blank line. */
export function parseArgsLine(raw: string, file: string, lineNo: number): unknown[] | undefined {
  const line = raw.trim();
  if (line === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new CliError(`${file}:${lineNo}: not valid JSON (${(error as Error).message}); each line must be a JSON array of arguments, e.g. [1, 2]`, 2);
  }
  if (!Array.isArray(value)) throw new CliError(`${file}:${lineNo}: expected a JSON array of arguments, e.g. [1, 2], got ${describe(value)}`, 2);
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * `--since`: an ISO 8601 instant (`2026-12-01T10:00:00Z`, or a date `2026-12-01`, read as UTC), or a
 * duration back from now (`30s`, `10m`, `2h`, `7d`, `1w`). Returns an ISO instant.
 */
export function parseSince(value: string, now: number): string {
  const duration = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(value.trim());
  if (duration) return new Date(now - Number(duration[1]) * UNITS[duration[2]!]!).toISOString();
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value.trim())) {
    const text = value.trim().replace(' ', 'T');
    // A time without a zone would silently mean local time; FX shows UTC everywhere, so read it as UTC.
    const withZone = /T.*(Z|[+-]\d{2}:?\d{2})$/.test(text) || !text.includes('T') ? text : `${text}Z`;
    const t = Date.parse(withZone);
    if (!Number.isNaN(t)) return new Date(t).toISOString();
  }
  throw new InvalidArgumentError('expected an ISO 8601 time (2026-12-01T10:00:00Z) or a duration back from now (30s, 10m, 2h, 7d).');
}

/** `--args`: a JSON array. */
export function parseJsonArray(value: string): unknown[] {
  const parsed = parseJson(value);
  if (!Array.isArray(parsed)) throw new InvalidArgumentError("must be a JSON array, e.g. '[1, 2]'.");
  return parsed;
}

/** `--kwargs`: a JSON object. */
export function parseJsonObject(value: string): Record<string, unknown> {
  const parsed = parseJson(value);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError('must be a JSON object, e.g. \'{"x": 1}\'.');
  return parsed as Record<string, unknown>;
}

function parseJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new InvalidArgumentError(`is not valid JSON (${(error as Error).message}).`);
  }
}

/** A commander option parser for --speculate-after: a number more than 1 (how many times the median runtime). */
export function parseSpeculationFactor(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 1 || n > 1000)
    throw new InvalidArgumentError('must be a number more than 1 (and at most 1000), e.g. 3.');
  return n;
}

/** A commander option parser for --priority: a whole number 0–9, or commander's usage error. */
export function parsePriority(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < MIN_TASK_PRIORITY || n > MAX_TASK_PRIORITY) {
    throw new InvalidArgumentError(`must be a whole number from ${MIN_TASK_PRIORITY} to ${MAX_TASK_PRIORITY} (higher goes first).`);
  }
  return n;
}
