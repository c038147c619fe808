import type { LoggerService } from '@nestjs/common';
import { pino, type Logger as Pino } from 'pino';
import { prettyLogStream, type LogFormat, type LogLevel } from '@fx/protocol';

export interface ServerLoggerOptions {
  level: LogLevel;
  /** @default pretty when stdout is a terminal, json otherwise */
  format?: LogFormat;
  /** Where each line goes. @default process.stdout */
  write?: (line: string) => void;
}

/**
 * Nest's own start-up chatter (modules loaded, every route mapped): debug, so that `info` shows what
 * FX itself has to say. Nest's messages carry their context as the last argument, like ours.
 */
const NEST_BOOT_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication', 'WebSocketsController']);

/**
 * Nest's LoggerService on one pino logger, so the `new Logger(context)` call sites log structured
 * records: the context becomes a field, and a message may be `{ msg, ...fields }` (`endpointId`,
 * `connId`, `taskId`). Nest's levels map onto FX's one vocabulary: log→info, verbose→debug, fatal→error.
 */
export class PinoLoggerService implements LoggerService {
  constructor(readonly pino: Pino) {}

  static create(options: ServerLoggerOptions): PinoLoggerService {
    const out = options.write ?? ((line: string) => void process.stdout.write(line));
    const pretty = options.format === 'pretty' || (options.format === undefined && options.write === undefined && process.stdout.isTTY === true);
    return new PinoLoggerService(
      pino(
        { level: options.level, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
        pretty ? prettyLogStream(out) : { write: out },
      ),
    );
  }

  readonly log = this.at('info');
  readonly error = this.at('error');
  readonly warn = this.at('warn');
  readonly debug = this.at('debug');
  readonly verbose = this.at('debug');
  readonly fatal = this.at('error');

  /** Nest's method for one level: what FX writes at `level`. */
  private at(level: LogLevel): (message: unknown, ...params: unknown[]) => void {
    return (message, ...params) => this.write(level, message, params);
  }

  private write(wanted: LogLevel, message: unknown, params: unknown[]): void {
    const rest = [...params];
    // Nest's Logger appends its context last; Logger.error puts a stack (or undefined) before it.
    const last = rest[rest.length - 1];
    const context = typeof last === 'string' && !last.includes('\n') ? (rest.pop() as string) : undefined;
    const level = context !== undefined && NEST_BOOT_CONTEXTS.has(context) && wanted === 'info' ? 'debug' : wanted;
    if (!this.pino.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = context !== undefined ? { context } : {};
    let msg: string;
    if (message instanceof Error) {
      fields.err = message;
      msg = message.message;
    } else if (typeof message === 'object' && message !== null) {
      const { msg: text, ...facts } = message as { msg?: unknown };
      Object.assign(fields, facts);
      msg = text === undefined ? '' : String(text);
    } else {
      msg = String(message);
    }
    const stack = rest.find((p): p is string => typeof p === 'string');
    if (stack !== undefined) fields.stack = stack;
    this.pino[level](fields, msg);
  }
}
