import { z } from 'zod';

/**
 * The one log vocabulary of FX. The server, the agent, its block workers and `npm start` (which passes
 * one FX_LOG_LEVEL to both processes) all take these levels, and all write the same records: pino's
 * JSON (`level` as a label, `time` as ISO 8601, `msg`, then the fields), or `formatLogLine`'s readable
 * line on a terminal. It lives here, beside the wire protocol, because both apps need it and neither may
 * import the other; it is plain code with no Node API, so the browser bundle can carry it.
 */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** FX_LOG_LEVEL. `log` (the server's name for `info` before the vocabularies were merged) is refused by name. */
export const LogLevelSchema = z.enum(LOG_LEVELS, {
  error: (issue) =>
    `must be one of ${LOG_LEVELS.join(', ')}${issue.input === 'log' ? ' ("log" is now called "info")' : ''}, not ${JSON.stringify(issue.input)}`,
});

/** FX_LOG_FORMAT; unset means `pretty` on a terminal and `json` anywhere else. */
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export const LogFormatSchema = z.enum(LOG_FORMATS, {
  error: (issue) => `must be one of ${LOG_FORMATS.join(', ')}, not ${JSON.stringify(issue.input)}`,
});

/** Fields every record carries, not repeated as key=value on a readable line. */
const FRAME_KEYS = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/**
 * One pino JSON record as a readable line, `time LEVEL msg key=value …`, with a stack (of an `err`
 * field, or a `stack` field) on the lines after it. No colour: lines that end up in a file stay plain.
 */
export function formatLogLine(record: Record<string, unknown>): string {
  let line = logLineHead(String(record.time ?? new Date().toISOString()), String(record.level ?? 'info'), String(record.msg ?? ''));
  const stacks: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (FRAME_KEYS.has(key) || value === undefined) continue;
    if (key === 'stack' && typeof value === 'string') {
      stacks.push(value);
      continue;
    }
    const error = value as { message?: unknown; stack?: unknown } | null;
    if (typeof error === 'object' && error !== null && typeof error.stack === 'string') {
      stacks.push(error.stack);
      line += ` ${key}=${plain(error.message)}`;
      continue;
    }
    line += ` ${key}=${plain(value)}`;
  }
  return `${line}\n${stacks.map((s) => `${withoutControls(s).replace(/^/gm, '    ')}\n`).join('')}`;
}

/**
 * The start of formatLogLine's line, `time LEVEL msg`: the whole line (with its `\n`) of a record that
 * has nothing else, which the agent's per-task lines build without a record (task.lines.ts).
 */
export function logLineHead(time: string, level: string, msg: string): string {
  return `${time} ${level.toUpperCase().padEnd(5)} ${withoutControls(msg)}`;
}

/** A value as it reads best after `key=`: bare when it is one plain word, JSON otherwise. */
function plain(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=\p{Cc}]+$/u.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/** A message may quote a task's output: its escape sequences (colours, cursor moves) are shown, not obeyed. */
function withoutControls(text: string): string {
  // eslint-disable-next-line no-control-regex -- finding control characters is this function's job
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** One line of a log as a person reads it: a JSON record through `formatLogLine`, anything else as it is. */
export function readableLogLine(line: string): string {
  try {
    const record: unknown = JSON.parse(line);
    if (typeof record === 'object' && record !== null && !Array.isArray(record)) return formatLogLine(record as Record<string, unknown>);
  } catch {
    // not a record: shown as written
  }
  return line.endsWith('\n') ? line : `${line}\n`;
}

/** Where pino writes: each JSON record it hands over becomes a readable line. */
export function prettyLogStream(write: (line: string) => void): { write(record: string): void } {
  return { write: (record: string) => write(readableLogLine(record)) };
}
