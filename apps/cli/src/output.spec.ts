import { jest } from '@jest/globals';
import type { LogChunk } from '@fx/protocol';
import type { Client } from '@fx/sdk';
import type { CliContext } from './cli.context.js';
import { formatTable, safeText } from './output.js';
import { buildProgram } from './program.js';

// an OSC 52 clipboard write, a line erase and return, a one-byte CSI, a bidi override and an isolate
const EVIL = 'ok\x1b]52;c;AAAA\x07 \x1b[2K\rforged \u009b31m \u202egnp.exe \u2066x\u2069 \x7f\x00';
// raw control bytes but tab and newline, and the bidi controls
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('safeText', () => {
  it('writes every terminal control but tab and newline, and the bidi controls, as JSON escapes', () => {
    expect(safeText(EVIL)).toBe('ok\\u001b]52;c;AAAA\\u0007 \\u001b[2K\\u000dforged \\u009b31m \\u202egnp.exe \\u2066x\\u2069 \\u007f\\u0000');
    expect(safeText('a\tb\nc, déjà vu, 東京 🙂')).toBe('a\tb\nc, déjà vu, 東京 🙂');
  });

  it('keeps a JSON document valid and equal (C1 and bidi become \\u escapes)', () => {
    const value = { message: EVIL, nested: ['\u0085', '\u2067'] };
    const text = safeText(JSON.stringify(value, null, 2));
    expect(text).not.toMatch(RAW);
    expect(JSON.parse(text)).toEqual(value);
  });

  it('is applied to table cells before they are padded, so columns still align', () => {
    const table = formatTable(
      ['A', 'B'],
      [
        ['\x1b[2K', 'x'],
        ['plain', 'y'],
      ],
    ).split('\n');
    expect(table).toEqual(['A          B', '\\u001b[2K  x', 'plain      y']);
  });
});

/** A CliContext for a command run in-process, with stdout and stderr that may say they are terminals. */
function fakeContext(client: Partial<Client>, tty: boolean) {
  const written = { stdout: '', stderr: '', out: [] as string[], err: [] as string[] };
  const stream = (name: 'stdout' | 'stderr') =>
    ({
      isTTY: tty,
      write: (chunk: string | Uint8Array) => {
        written[name] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
        return true;
      },
    }) as unknown as NodeJS.WritableStream;
  const context = {
    out: (line: string) => written.out.push(line),
    err: (line: string) => written.err.push(line),
    stdout: stream('stdout'),
    stderr: stream('stderr'),
    connect: async () => ({ close: () => undefined, ...client }) as Client,
    onInterrupt: () => () => undefined,
    now: () => 0,
  } as unknown as CliContext;
  return { context, written };
}

const TASK = '0b0e4cb2-3f0c-4d6c-9c5a-7b0b8f7c1e2a';

describe('fx logs', () => {
  const chunk = (seq: number, stream: LogChunk['stream'], text: string): LogChunk => ({ taskId: TASK, attempt: 0, stream, seq, at: 0, text });
  const chunks = [chunk(1, 'stdout', `out ${EVIL}\n`), chunk(2, 'stderr', `err ${EVIL}\n`), chunk(3, 'agent', `worker ${EVIL}\n`)];
  const client = {
    logs: async function* () {
      yield* chunks;
    },
  } as unknown as Partial<Client>;
  const run = async (tty: boolean, ...flags: string[]) => {
    const { context, written } = fakeContext(client, tty);
    await buildProgram(context).parseAsync(['node', 'fx', 'logs', TASK, '--agent', ...flags]);
    return written;
  };

  it('escapes what the task printed on a terminal, lines and tabs kept', async () => {
    const w = await run(true);
    expect(w.stdout).toBe(`out ${safeText(EVIL)}\n`);
    expect(w.stderr).toBe(`err ${safeText(EVIL)}\n[agent] worker ${safeText(EVIL)}\n`);
    expect(w.stdout + w.stderr).not.toMatch(RAW);
  });

  it('writes it as it is into a pipe, or on a terminal with --raw', async () => {
    for (const w of [await run(false), await run(true, '--raw')]) {
      expect(w.stdout).toBe(`out ${EVIL}\n`);
      // a line begins after a carriage return too: the agent's lines are marked as before
      expect(w.stderr).toBe(`err ${EVIL}\n[agent] worker ${EVIL.replace('\r', '\r[agent] ')}\n`);
    }
  });
});

describe('fx get', () => {
  it('refuses to write an object to a terminal unless -o - says so; nothing is asked of the server', async () => {
    const { context, written } = fakeContext({}, true);
    const connect = jest.spyOn(context, 'connect');
    await expect(buildProgram(context).parseAsync(['node', 'fx', 'get', 'some/object'])).rejects.toThrow(/stdout is a terminal.*-o -/);
    expect(connect).not.toHaveBeenCalled();
    expect(written.stdout).toBe('');
  });
});
