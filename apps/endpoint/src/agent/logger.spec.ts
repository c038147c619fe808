import { parseEnv } from '../config/env.js';
import { createConsoleLogger, silentLogger } from './logger.js';

function capture(level: Parameters<typeof createConsoleLogger>[0], format?: 'json' | 'pretty') {
  const lines: string[] = [];
  const logger = createConsoleLogger(level, { write: (line) => lines.push(line), ...(format ? { format } : {}) });
  return { logger, lines };
}

describe('the agent logger', () => {
  it('writes one JSON record a line, with level, time, msg and the fields, when not told otherwise', () => {
    const { logger, lines } = capture('info');
    logger.child({ endpointId: 'ep-1' }).warn('the task lost its worker', { taskId: 't-1', blockId: 'b1-abc' });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    const record = JSON.parse(lines[0]!);
    expect(record).toMatchObject({ level: 'warn', msg: 'the task lost its worker', endpointId: 'ep-1', taskId: 't-1', blockId: 'b1-abc', pid: process.pid });
    expect(new Date(record.time).toISOString()).toBe(record.time);
  });

  it('drops what is below its level', () => {
    const { logger, lines } = capture('warn');
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(lines.map((l) => JSON.parse(l).level)).toEqual(['warn', 'error']);
    const all = capture('debug');
    for (const level of ['debug', 'info', 'warn', 'error'] as const) all.logger[level](level);
    expect(all.lines.map((l) => JSON.parse(l).msg)).toEqual(['debug', 'info', 'warn', 'error']);
  });

  it('writes readable lines without colour when asked for pretty', () => {
    const { logger, lines } = capture('info', 'pretty');
    logger.child({ endpointId: 'ep-1' }).info('connected', { url: 'http://x:1' });
    logger.error('could not start', { err: new Error('boom') });
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\S+Z INFO {2}connected endpointId=ep-1 url=http:\/\/x:1\n$/);
    expect(lines[1]).toMatch(/ERROR could not start err=boom\n {4}Error: boom\n {8}at /);
    expect(lines.join('')).not.toMatch(/\u001b\[/);
  });

  it('keeps the old (level, write) form, and a silent logger whose children are silent', () => {
    const lines: string[] = [];
    createConsoleLogger('info', (line) => lines.push(line)).info('hello');
    expect(JSON.parse(lines[0]!).msg).toBe('hello');
    expect(silentLogger.child({ a: 1 })).toBe(silentLogger);
  });
});

describe('FX_LOG_LEVEL and FX_LOG_FORMAT of the agent', () => {
  it('take the server\'s vocabulary, and refuse the old server level "log" by name', () => {
    expect(parseEnv({ FX_HOME: '/tmp/h' })).toMatchObject({ logLevel: 'info' });
    expect(parseEnv({ FX_HOME: '/tmp/h' }).logFormat).toBeUndefined();
    expect(parseEnv({ FX_HOME: '/tmp/h', FX_LOG_LEVEL: 'warn', FX_LOG_FORMAT: 'pretty' })).toMatchObject({ logLevel: 'warn', logFormat: 'pretty' });
    expect(() => parseEnv({ FX_LOG_LEVEL: 'log' })).toThrow(
      'environment variable FX_LOG_LEVEL is invalid: must be one of debug, info, warn, error ("log" is now called "info"), not "log"',
    );
    expect(() => parseEnv({ FX_LOG_FORMAT: 'xml' })).toThrow('FX_LOG_FORMAT is invalid: must be one of json, pretty');
  });
});
