import { Logger } from '@nestjs/common';
import { PinoLoggerService } from './pino-logger.service.js';
import { loadConfig } from '../config/env.js';

function capture(level: 'debug' | 'info' | 'warn' | 'error', format?: 'json' | 'pretty') {
  const lines: string[] = [];
  const service = PinoLoggerService.create({ level, write: (line) => lines.push(line), ...(format ? { format } : {}) });
  return { service, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('PinoLoggerService', () => {
  afterEach(() => Logger.overrideLogger(false));

  it("maps Nest's levels onto debug, info, warn and error", () => {
    const { service, records } = capture('debug');
    service.verbose('v');
    service.debug('d');
    service.log('l');
    service.warn('w');
    service.error('e');
    service.fatal('f');
    expect(records().map((r) => [r.level, r.msg])).toEqual([
      ['debug', 'v'],
      ['debug', 'd'],
      ['info', 'l'],
      ['warn', 'w'],
      ['error', 'e'],
      ['error', 'f'],
    ]);
  });

  it('drops what is below its level', () => {
    const { service, records } = capture('warn');
    service.debug('d');
    service.log('l');
    service.warn('w');
    service.error('e');
    expect(records().map((r) => r.level)).toEqual(['warn', 'error']);
  });

  it('serves `new Logger(context)`: the context becomes a field, and an object message gives msg and fields', () => {
    const { service, records } = capture('info');
    Logger.overrideLogger(service);
    const logger = new Logger('EndpointChannel');
    logger.log({ msg: 'agent connected', endpointId: 'ep-1', connId: 'conn-1', requeued: 2 });
    logger.warn('plain sentence');
    logger.error({ msg: 'recording results failed', endpointId: 'ep-1', err: new Error('boom') });
    logger.error('with a stack', 'Error: x\n    at f (a.js:1:1)');
    const [connected, plain, failed, stacked] = records();
    expect(connected).toMatchObject({ level: 'info', msg: 'agent connected', context: 'EndpointChannel', endpointId: 'ep-1', connId: 'conn-1', requeued: 2 });
    expect(typeof connected!.time).toBe('string');
    expect(plain).toMatchObject({ level: 'warn', msg: 'plain sentence', context: 'EndpointChannel' });
    expect(failed).toMatchObject({ level: 'error', msg: 'recording results failed', endpointId: 'ep-1', err: { type: 'Error', message: 'boom' } });
    expect(stacked).toMatchObject({ level: 'error', msg: 'with a stack', context: 'EndpointChannel', stack: 'Error: x\n    at f (a.js:1:1)' });
  });

  it("says Nest's own start-up chatter at debug, so info shows what FX has to say", () => {
    const { service, records } = capture('info');
    service.log('Mapped {/v1/tasks, POST} route', 'RouterExplorer');
    service.log('AppModule dependencies initialized', 'InstanceLoader');
    service.log('using the in-process broker', 'Broker');
    expect(records().map((r) => r.msg)).toEqual(['using the in-process broker']);
  });

  it('writes readable lines without colour when asked for pretty', () => {
    const { service, lines } = capture('info', 'pretty');
    service.log({ msg: 'agent disconnected', endpointId: 'ep-1', code: 1000 }, 'EndpointChannel');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\S+Z INFO {2}agent disconnected context=EndpointChannel endpointId=ep-1 code=1000\n$/);
    expect(lines[0]).not.toMatch(/\u001b\[/);
  });
});

describe('FX_LOG_LEVEL and FX_LOG_FORMAT', () => {
  it('default to info and to the terminal test, and take the agent vocabulary', () => {
    const config = loadConfig({});
    expect(config.FX_LOG_LEVEL).toBe('info');
    expect(config.FX_LOG_FORMAT).toBeUndefined();
    expect(loadConfig({ FX_LOG_LEVEL: 'debug', FX_LOG_FORMAT: 'json' })).toMatchObject({ FX_LOG_LEVEL: 'debug', FX_LOG_FORMAT: 'json' });
  });

  it('refuse the old "log" level with a sentence naming the allowed values', () => {
    expect(() => loadConfig({ FX_LOG_LEVEL: 'log' })).toThrow('FX_LOG_LEVEL: must be one of debug, info, warn, error ("log" is now called "info"), not "log"');
    expect(() => loadConfig({ FX_LOG_FORMAT: 'colour' })).toThrow('FX_LOG_FORMAT: must be one of json, pretty, not "colour"');
  });
});
