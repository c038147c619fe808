import { LogFormatSchema, LogLevelSchema, formatLogLine, prettyLogStream, readableLogLine } from './logging.js';

const ANSI = /\u001b\[/;

describe('the log vocabulary', () => {
  it('takes debug, info, warn and error, and refuses the old server name "log" by saying what it is now', () => {
    for (const level of ['debug', 'info', 'warn', 'error']) expect(LogLevelSchema.parse(level)).toBe(level);
    const refused = LogLevelSchema.safeParse('log');
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]?.message).toBe('must be one of debug, info, warn, error ("log" is now called "info"), not "log"');
    expect(LogLevelSchema.safeParse('verbose').error?.issues[0]?.message).toBe('must be one of debug, info, warn, error, not "verbose"');
  });

  it('takes json and pretty as formats', () => {
    expect(LogFormatSchema.parse('json')).toBe('json');
    expect(LogFormatSchema.parse('pretty')).toBe('pretty');
    expect(LogFormatSchema.safeParse('color').error?.issues[0]?.message).toBe('must be one of json, pretty, not "color"');
  });
});

describe('formatLogLine', () => {
  it('writes time, level, message and the fields as key=value, leaving out pid and hostname', () => {
    const line = formatLogLine({
      level: 'info',
      time: '2026-01-02T03:04:05.678Z',
      pid: 7,
      hostname: 'h',
      msg: 'agent connected',
      endpointId: 'e-1',
      connId: 'conn-2',
      requeued: 0,
      note: 'two words',
    });
    expect(line).toBe('2026-01-02T03:04:05.678Z INFO  agent connected endpointId=e-1 connId=conn-2 requeued=0 note="two words"\n');
  });

  it('puts a stack, of an err field or a stack field, on the lines below, indented', () => {
    const line = formatLogLine({
      level: 'error',
      time: 't',
      msg: 'frame failed',
      err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (x.js:1:1)' },
    });
    expect(line).toBe('t ERROR frame failed err=boom\n    Error: boom\n        at f (x.js:1:1)\n');
    expect(formatLogLine({ level: 'error', time: 't', msg: 'm', stack: 'S\n  at g' })).toBe('t ERROR m\n    S\n      at g\n');
  });

  it('writes no colour and shows escape sequences from a message or a field instead of passing them on', () => {
    const line = formatLogLine({ level: 'warn', time: 't', msg: 'task said \u001b[31mred\u001b[0m', output: '\u001b[1mbold' });
    expect(line).not.toMatch(ANSI);
    expect(line).toContain('task said \\u001b[31mred\\u001b[0m');
    expect(line).toContain('output="\\u001b[1mbold"');
  });
});

describe('readableLogLine and prettyLogStream', () => {
  it('turn JSON records into lines and leave anything else as written', () => {
    expect(readableLogLine('{"level":"warn","time":"t","msg":"hi","taskId":"x"}\n')).toBe('t WARN  hi taskId=x\n');
    expect(readableLogLine('(node:1) some other line')).toBe('(node:1) some other line\n');
    expect(readableLogLine('[1,2]')).toBe('[1,2]\n');
    const out: string[] = [];
    prettyLogStream((l) => out.push(l)).write('{"level":"debug","time":"t","msg":"m"}\n');
    expect(out).toEqual(['t DEBUG m\n']);
  });
});
