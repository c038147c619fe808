import type { Command } from 'commander';
import { NotFoundError, type Client, type TaskOutcome } from '@fx/sdk';
import type { CliContext } from '../cli.context.js';
import { CliError } from '@fx/cli-kit';
import { wantsJson, withClient } from '../command.helpers.js';
import { followOutcomes, reportSummary } from '../follow.js';
import { printJson } from '../output.js';
import { checkTaskId } from '../resolve.js';

export function configureWatchCommand(program: Command, context: CliContext): void {
  program
    .command('watch')
    .description('re-attach to a batch (a task group: a batch, a graph, a map): the same progress as "fx batch", until every task has finished')
    .argument('<batch...>', 'the batch id "fx batch" printed (a group id; several may be given)')
    .action(async (refs: string[], _options: object, command: Command) => {
      const groupIds = refs.map((ref) => checkTaskId(ref, 'batch id'));
      const json = wantsJson(command);
      const summary = await withClient(context, async (client) => {
        let total = 0;
        for (const id of groupIds) {
          const info = await client
            .group(id)
            .describe()
            .catch((error: unknown) => {
              throw error instanceof NotFoundError ? new CliError(`no batch ${id} (or it is not yours to see)`) : error;
            });
          context.err(`Batch ${id}: ${info.counts.total} tasks.`);
          total += info.counts.total;
        }
        return followOutcomes(context, groupIds, outcomesOf(client, groupIds), () => total);
      });
      if (json) printJson(context, summary);
      else reportSummary(context, summary);
      if (summary.succeeded !== summary.total) throw new CliError('', 1);
    });
}

/** Every outcome of these groups, one group after another (each streamed through a bounded window). */
async function* outcomesOf(client: Client, groupIds: string[]): AsyncGenerator<TaskOutcome> {
  for (const id of groupIds) yield* client.group(id).results();
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
