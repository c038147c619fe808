import type { Command } from 'commander';
import type { ProgressEvent } from '@fx/protocol';
import type { CliContext } from '../cli.context.js';
import { wantsJson, withClient, taskCommand } from '../command.helpers.js';
import { formatTime } from '../output.js';
import { checkTaskId } from '../resolve.js';
import { failUnlessSucceeded } from './logs.js';

export function configureProgressCommand(program: Command, context: CliContext): void {
  taskCommand(
    program,
    'progress',
    'the progress values a task emitted (the latest ones the server kept), one line each (--json: one JSON object per line); with --follow, as they come, until it ends',
  )
    .option('-f, --follow', 'keep printing while the task runs; exit when it has finished (exit 1 if it did not succeed)')
    .action(async (ref: string, options: { follow?: boolean }, command: Command) => {
      const id = checkTaskId(ref);
      const json = wantsJson(command);
      const print = (event: ProgressEvent) => context.out(json ? JSON.stringify(event) : progressLine(event));
      if (!options.follow) {
        const page = await withClient(context, (client) => client.getTaskProgress(id));
        page.items.forEach(print);
        if (!json && page.items.length === 0) context.err(`Task ${id} has emitted no progress${page.final ? '' : ' yet'}.`);
        return;
      }
      const off = context.onInterrupt(() => context.err(`Stopped following; the task keeps running ("fx cancel ${id}" stops it).`));
      try {
        const status = await withClient(context, async (client) => {
          for await (const event of client.progress(id)) print(event);
          return (await client.getTask(id)).status;
        });
        failUnlessSucceeded(id, status);
      } finally {
        off();
      }
    });
}

/** `#3  2026-12-02 01:02:03Z  {"step":3}  (2 coalesced)`: the emit count, when, the value, what it replaced. */
export function progressLine(event: ProgressEvent): string {
  const attempt = event.attempt > 0 ? ` (attempt ${event.attempt})` : '';
  const coalesced = event.coalesced ? `  (+${event.coalesced} coalesced)` : '';
  return `#${event.seq}${attempt}  ${formatTime(new Date(event.at).toISOString())}  ${JSON.stringify(event.value) ?? 'null'}${coalesced}`;
}
