import type { Command } from 'commander';
import type { Client } from '@fx/sdk';
import type { CliContext } from '../cli.context.js';
import { CliError } from '@fx/cli-kit';
import { wantsJson, withClient } from '../command.helpers.js';
import { followTasks, reportSummary } from '../follow.js';
import { printJson } from '../output.js';
import { checkTaskId } from '../resolve.js';

export function configureWatchCommand(program: Command, context: CliContext): void {
  program
    .command('watch')
    .description('re-attach to a batch: the same progress as "fx batch", until every task has finished')
    .argument('<batch...>', 'the batch id "fx batch" printed (several for a batch of more than 10,000 tasks)')
    .action(async (refs: string[], _options: object, command: Command) => {
      const batchIds = refs.map((ref) => checkTaskId(ref, 'batch id'));
      const json = wantsJson(command);
      const summary = await withClient(context, async (client) => {
        const taskIds: string[] = [];
        for (const batchId of batchIds) {
          const ids = await batchTaskIds(client, batchId);
          if (ids.length === 0) throw new CliError(`no batch ${batchId} (or none of its tasks are yours to see)`);
          context.err(`Batch ${batchId}: ${ids.length} tasks.`);
          taskIds.push(...ids);
        }
        return followTasks(context, client, batchIds, taskIds);
      });
      if (json) printJson(context, summary);
      else reportSummary(context, summary);
      if (summary.succeeded !== summary.total) throw new CliError('', 1);
    });
}

/** Every task of a batch, paged through GET /v1/tasks?batchId=… with the cursor. */
export async function batchTaskIds(client: Client, batchId: string, status?: string[]): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listTasks({ batchId, limit: 1000, ...(status ? { status } : {}), ...(cursor === undefined ? {} : { cursor }) });
    for (const t of page.items) ids.push(t.id);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return ids;
}
