import type { Command } from 'commander';
import type { LogChunk, LogStream } from '@fx/protocol';
import type { CliContext } from '../cli.context.js';
import { CliError } from '@fx/cli-kit';
import { wantsJson, withClient, taskCommand } from '../command.helpers.js';
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
    .action(async (ref: string, options: { follow?: boolean; stream?: string; agent?: boolean }, command: Command) => {
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
            else printChunk(context, chunk);
          }
          return follow ? (await client.getTask(id)).status : undefined;
        });
        if (status !== undefined) failUnlessSucceeded(id, status);
      } finally {
        off();
      }
    });
}

/** A chunk where it belongs: the task's stdout and stderr as printed; the agent's lines on stderr, each marked. */
function printChunk(context: CliContext, chunk: LogChunk): void {
  if (chunk.stream === 'agent') context.stderr.write(chunk.text.replace(/^(?=.)/gm, '[agent] '));
  else (chunk.stream === 'stderr' ? context.stderr : context.stdout).write(chunk.text);
}

export function streamOption(value: string | undefined): LogStream | undefined {
  if (value === undefined || value === 'stdout' || value === 'stderr' || value === 'agent') return value;
  throw new CliError(`--stream must be stdout, stderr or agent, not "${value}"`, 2);
}

/** After following a task to its end: exit 1 when it did not succeed, as `fx run` does. */
export function failUnlessSucceeded(id: string, status: string): void {
  if (status !== 'success') throw new CliError(`task ${id} ${status === 'cancelled' ? 'was cancelled' : 'failed'}`, 1);
}
