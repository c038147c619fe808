import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { CliContext } from '../cli.context.js';
import { CliError } from '@fx/cli-kit';
import { noticeWarning, wantsJson, withClient } from '../command.helpers.js';
import { followTasks, reportSummary } from '../follow.js';
import { printJson } from '../output.js';
import { parseArgsFile, parsePriority } from '../parse.js';
import { endpointRef, functionRef } from '../resolve.js';

interface BatchOptions {
  endpoint: string;
  argsFile: string;
  priority?: number;
}

export function configureBatchCommand(program: Command, context: CliContext): void {
  program
    .command('batch')
    .description('run a function once per line of an args file, with progress; prints the batch id first ("fx watch <id>" re-attaches)')
    .argument('<function>', 'function id or name')
    .requiredOption('--endpoint <endpoint>', 'endpoint id or name')
    .requiredOption('--args-file <file>', 'JSON Lines: one JSON array of arguments per line, e.g. [1, 2]')
    .option('--priority <0-9>', 'of every task of the batch: higher goes first in the endpoint’s queue (default 5)', parsePriority)
    .action(async (fnRef: string, options: BatchOptions, command: Command) => {
      const json = wantsJson(command);
      let text: string;
      try {
        text = await readFile(options.argsFile, 'utf8');
      } catch (error) {
        throw new CliError(`cannot read the args file ${options.argsFile}: ${(error as Error).message}`, 2);
      }
      const argsList = parseArgsFile(text, options.argsFile);
      const summary = await withClient(context, async (client) => {
        const endpointId = endpointRef(options.endpoint);
        // One version for the whole batch, even when it takes several requests and the name gets a new version meanwhile.
        const { id: functionId } = await client.getFunction(functionRef(fnRef));
        const batchIds: string[] = [];
        const taskIds = await client.runBatch(
          endpointId,
          argsList.map((args) => ({ functionId, args })),
          {
            // Said the moment the server has the tasks, so an interrupted wait can be resumed.
            onAccepted: ({ batchId, taskIds }) => {
              batchIds.push(batchId);
              if (!json) context.out(batchId);
              context.err(`Batch ${batchId}: ${taskIds.length} tasks accepted; "fx watch ${batchId}" re-attaches.`);
            },
            onWarning: (w) => noticeWarning(context, options.endpoint, w),
            ...(options.priority !== undefined ? { priority: options.priority } : {}),
          },
        );
        return followTasks(context, client, batchIds, taskIds);
      });
      if (json) printJson(context, summary);
      else reportSummary(context, summary);
      if (summary.succeeded !== summary.total) throw new CliError('', 1);
    });
}
