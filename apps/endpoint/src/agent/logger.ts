import { pino, type Logger as Pino } from 'pino';
import { prettyLogStream, type LogFormat, type LogLevel } from '@fx/protocol';

export type { LogFormat, LogLevel } from '@fx/protocol';

/** The facts of a log line (`taskId`, `endpointId`, `blockId`, …); the message stays a short sentence. */
export type LogFields = Record<string, unknown>;

/** What the agent says; the CLI writes it (pino), tests silence it. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds these fields to every line (an endpoint's id, a block's). */
  child(fields: LogFields): Logger;
}

export interface ConsoleLoggerOptions {
  /** @default pretty when the lines go to a terminal, json otherwise */
  format?: LogFormat;
  /** Where each line goes. @default process.stderr (the detached agent's stderr is endpoint.log) */
  write?: (line: string) => void;
}

/**
 * One process's logger: pino records to stderr, JSON off a terminal (endpoint.log, a Slurm output file),
 * readable lines on one. Written synchronously, in this thread: no transport worker, nothing lost when
 * the process exits right after a line.
 */
export function createConsoleLogger(level: LogLevel = 'info', options: ConsoleLoggerOptions | ((line: string) => void) = {}): Logger {
  const { format, write } = typeof options === 'function' ? { format: undefined, write: options } : options;
  const out = write ?? ((line: string) => void process.stderr.write(line));
  const pretty = format === 'pretty' || (format === undefined && write === undefined && process.stderr.isTTY === true);
  return wrap(
    pino(
      { level, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
      pretty ? prettyLogStream(out) : { write: out },
    ),
  );
}

function wrap(p: Pino): Logger {
  const at = (level: LogLevel) => (message: string, fields?: LogFields) => (fields ? p[level](fields, message) : p[level](message));
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (fields) => wrap(p.child(fields)) };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silentLogger };
