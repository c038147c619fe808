import type { Command } from 'commander';
import { isFinalStatus } from '@fx/protocol';
import type { CliContext } from '../cli.context.js';
import { CliError } from '@fx/cli-kit';
import { wantsJson, withClient } from '../command.helpers.js';
import { checkTaskId } from '../resolve.js';
import { printOutcome } from './run.js';

export function configureResultCommand(program: Command, context: CliContext): void {
  program
    .command('result')
    .description('the result of a finished task as JSON, or its error (exit 1)')
    .argument('<task>', 'task id')
    .action(async (ref: string, _options: object, command: Command) => {
      const id = checkTaskId(ref);
      const task = await withClient(context, (client) => client.getTask(id));
      if (!isFinalStatus(task.status)) {
        throw new CliError(`task ${id} has not finished yet (${task.status}); "fx task ${id}" shows where it is`);
      }
      const status = task.status as 'success' | 'failed' | 'cancelled';
      printOutcome(
        context,
        {
          taskId: id,
          status,
          ...(status === 'success' ? { result: task.result ?? null } : {}),
          ...(task.error ? { error: task.error } : {}),
          ...(task.output ? { output: task.output } : {}),
          ...(task.timeline.completedAt ? { completedAt: task.timeline.completedAt } : {}),
        },
        wantsJson(command),
      );
      if (status !== 'success') throw new CliError('', 1);
    });
}
