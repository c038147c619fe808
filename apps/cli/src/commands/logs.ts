import type { Command } from 'commander';
import type { CliContext } from '../cli.context.js';
import { CliError } from '@fx/cli-kit';
import { wantsJson, withClient } from '../command.helpers.js';
import { checkTaskId } from '../resolve.js';

type Stream = 'stdout' | 'stderr';

export function configureLogsCommand(program: Command, context: CliContext): void {
  program
    .command('logs')
    .description(
      'what a task printed, as it printed it: its stdout on stdout, its stderr on stderr (--json: one chunk per line); with --follow, as it runs, until it ends',
    )
    .argument('<task>', 'task id')
    .option('-f, --follow', 'keep printing while the task runs; exit when it has finished (exit 1 if it did not succeed)')
    .option('--stream <stream>', 'only this stream: stdout or stderr')
    .action(async (ref: string, options: { follow?: boolean; stream?: string }, command: Command) => {
      const id = checkTaskId(ref);
      const stream = streamOption(options.stream);
      const json = wantsJson(command);
      const follow = options.follow === true;
      const off = follow ? context.onInterrupt(() => context.err(`Stopped following; the task keeps running ("fx cancel ${id}" stops it).`)) : () => undefined;
      try {
        const status = await withClient(context, async (client) => {
          for await (const chunk of client.logs(id, { follow, ...(stream ? { stream } : {}) })) {
            if (json) context.out(JSON.stringify(chunk));
            else (chunk.stream === 'stderr' ? context.stderr : context.stdout).write(chunk.text);
          }
          return follow ? (await client.getTask(id)).status : undefined;
        });
        if (status !== undefined) failUnlessSucceeded(id, status);
      } finally {
        off();
      }
    });
}

export function streamOption(value: string | undefined): Stream | undefined {
  if (value === undefined || value === 'stdout' || value === 'stderr') return value;
  throw new CliError(`--stream must be stdout or stderr, not "${value}"`, 2);
}

/** After following a task to its end: exit 1 when it did not succeed, as `fx run` does. */
export function failUnlessSucceeded(id: string, status: string): void {
  if (status !== 'success') throw new CliError(`task ${id} ${status === 'cancelled' ? 'was cancelled' : 'failed'}`, 1);
}
