import type { Command } from 'commander';
import { NotFoundError, type Client } from '@fx/sdk';
import type { CliContext } from '../cli.context.js';
import { CliError } from '@fx/cli-kit';
import { wantsJson, withClient } from '../command.helpers.js';
import { printJson } from '../output.js';
import { checkTaskId } from '../resolve.js';
import { batchTaskIds } from './watch.js';

const NOT_FINAL = ['received', 'waiting-for-dependencies', 'waiting-for-endpoint', 'waiting-for-retry', 'dispatched', 'running'];
/** Cancel requests in flight at once for a batch: quick, without flooding the server. */
const PARALLEL = 16;

export function configureCancelCommand(program: Command, context: CliContext): void {
  program
    .command('cancel')
    .description('cancel a task, or every unfinished task of a batch')
    .argument('<id>', 'a task id or a batch id')
    .action(async (ref: string, _options: object, command: Command) => {
      const id = checkTaskId(ref, 'task or batch id');
      const json = wantsJson(command);
      const outcome = await withClient(context, async (client) => {
        try {
          return { kind: 'task' as const, ...(await client.cancel(id)) };
        } catch (error) {
          if (!(error instanceof NotFoundError)) throw error;
        }
        return { kind: 'batch' as const, ...(await cancelBatch(client, id)) };
      });
      if (json) return printJson(context, outcome);
      if (outcome.kind === 'task') {
        context.out(outcome.cancelled ? `Cancelled task ${id}.` : `Task ${id} had already finished (${outcome.status}); nothing to cancel.`);
        return;
      }
      context.out(
        `Batch ${id}: cancelled ${outcome.cancelled} of ${outcome.unfinished} unfinished tasks (${outcome.unfinished - outcome.cancelled} finished meanwhile).`,
      );
    });
}

async function cancelBatch(client: Client, batchId: string): Promise<{ batchId: string; unfinished: number; cancelled: number }> {
  const unfinished = await batchTaskIds(client, batchId, NOT_FINAL);
  if (unfinished.length === 0) {
    const page = await client.listTasks({ batchId, limit: 1 });
    if (page.items.length === 0) throw new CliError(`no task or batch ${batchId} (or it is not yours to see)`);
    return { batchId, unfinished: 0, cancelled: 0 };
  }
  let cancelled = 0;
  let next = 0;
  const worker = async () => {
    while (next < unfinished.length) {
      const taskId = unfinished[next++]!;
      if ((await client.cancel(taskId)).cancelled) cancelled++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, unfinished.length) }, worker));
  return { batchId, unfinished: unfinished.length, cancelled };
}
