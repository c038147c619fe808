import type { Command } from 'commander';
import { isFinalStatus } from '@fx/protocol';
import type { CliContext } from '../cli.context.js';
import { CliError } from '@fx/cli-kit';
import { inlineResult, wantsJson, withClient, taskCommand } from '../command.helpers.js';
import { checkTaskId } from '../resolve.js';
import { printOutcome } from './run.js';

export function configureResultCommand(program: Command, context: CliContext): void {
  taskCommand(program, 'result', 'the result of a finished task as JSON, or its error (exit 1)').action(
    async (ref: string, _options: object, command: Command) => {
      const id = checkTaskId(ref);
      const outcome = await withClient(context, async (client) => {
        const task = await client.getTask(id);
        if (!isFinalStatus(task.status)) {
          throw new CliError(`task ${id} has not finished yet (${task.status}); "fx task ${id}" shows where it is`);
        }
        const status = task.status as 'success' | 'failed' | 'cancelled';
        return inlineResult(context, client, {
          taskId: id,
          status,
          ...(status === 'success' ? { result: task.result ?? null } : {}),
          ...(task.resultRef ? { resultRef: task.resultRef } : {}),
          ...(task.error ? { error: task.error } : {}),
          ...(task.output ? { output: task.output } : {}),
          ...(task.timeline.completedAt ? { completedAt: task.timeline.completedAt } : {}),
        });
      });
      printOutcome(context, outcome, wantsJson(command));
      if (outcome.status !== 'success') throw new CliError('', 1);
    },
  );
}
