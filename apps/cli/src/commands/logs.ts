import type { Command } from 'commander';
import type { LogChunk, LogStream } from '@fx/protocol';
import type { CliContext } from '../cli.context.js';
import { CliError } from '@fx/cli-kit';
import { wantsJson, withClient, taskCommand } from '../command.helpers.js';
import { isTerminal, safeText } from '../output.js';
import { checkTaskId } from '../resolve.js';

export function configureLogsCommand(program: Command, context: CliContext): void {
  taskCommand(
    program,
    'logs',
    "what a task printed, as it printed it: its stdout on stdout, its stderr on stderr (--json: one chunk per line); with --follow, as it runs, until it ends; with --agent, the endpoint agent's lines about it too",
  )
    .option('-f, --follow', 'keep printing while the task runs; exit when it has finished (exit 1 if it did not succeed)')
    .option('--stream <stream>', "only this stream: stdout, stderr, or agent (the agent's lines only)")
    .option(
      '--agent',
      "interleave the endpoint agent's own lines about the task (received, started on which worker, finished, requeued…), on stderr, each prefixed [agent]",
    )
    .option('--raw', "write the task's text as it is even to a terminal (its control characters, escape sequences included, act there)")
    .action(async (ref: string, options: { follow?: boolean; stream?: string; agent?: boolean; raw?: boolean }, command: Command) => {
      const id = checkTaskId(ref);
      const stream = streamOption(options.stream);
      const json = wantsJson(command);
      const follow = options.follow === true;
      const agent = options.agent === true;
      const off = follow ? context.onInterrupt(() => context.err(`Stopped following; the task keeps running ("fx cancel ${id}" stops it).`)) : () => undefined;
      try {
        const status = await withClient(context, async (client) => {
          for await (const chunk of client.logs(id, { follow, agent, ...(stream ? { stream } : {}) })) {
            if (json) context.out(JSON.stringify(chunk));
            else {
              // the reader (this terminal, or the pipe) fell behind the task and the SDK dropped older chunks
              if (chunk.dropped) context.err(droppedNote(id, chunk.dropped));
              printChunk(context, chunk, options.raw === true);
            }
          }
          return follow ? (await client.getTask(id)).status : undefined;
        });
        if (status !== undefined) failUnlessSucceeded(id, status);
      } finally {
        off();
      }
    });
}

/**
 * A chunk where it belongs: the task's stdout and stderr as printed; the agent's lines on stderr, each
 * marked. What goes to a terminal is safeText unless `raw`: the task (another user's function, or a
 * member endpoint of another user) chose those bytes. Into a pipe or a file they go as they are.
 */
export function printChunk(context: CliContext, chunk: LogChunk, raw = false): void {
  const to = chunk.stream === 'stdout' ? context.stdout : context.stderr;
  const text = raw || !isTerminal(to) ? chunk.text : safeText(chunk.text);
  to.write(chunk.stream === 'agent' ? text.replace(/^(?=.)/gm, '[agent] ') : text);
}

/** Where `fx logs -f` skipped output it could not hold while its reader was behind. */
export function droppedNote(id: string, dropped: { chunks: number; bytes: number }): string {
  return `(fell behind the task: ${dropped.chunks} chunks, ${dropped.bytes} bytes of its output skipped here; "fx logs ${id}" prints all that the server kept)`;
}

export function streamOption(value: string | undefined): LogStream | undefined {
  if (value === undefined || value === 'stdout' || value === 'stderr' || value === 'agent') return value;
  throw new CliError(`--stream must be stdout, stderr or agent, not "${value}"`, 2);
}

/** After following a task to its end: exit 1 when it did not succeed, as `fx run` does. */
export function failUnlessSucceeded(id: string, status: string): void {
  if (status !== 'success') throw new CliError(`task ${id} ${status === 'cancelled' ? 'was cancelled' : 'failed'}`, 1);
}
