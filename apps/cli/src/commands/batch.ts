import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { CliContext } from '../cli.context.js';
import { CliError, parsePositiveInt } from '@fx/cli-kit';
import { noticeWarning, wantsJson, withClient } from '../command.helpers.js';
import { followOutcomes, reportSummary } from '../follow.js';
import { printJson } from '../output.js';
import { parseArgsLine, parsePriority, parseSpeculationFactor } from '../parse.js';
import { endpointRef, functionRef } from '../resolve.js';
import { addCacheOptions } from './cache.js';

interface BatchOptions {
  endpoint: string;
  argsFile: string;
  window: string;
  priority?: number;
  cache?: boolean;
  speculateAfter?: number;
  speculateMinSamples?: number;
}

/** The args file's tasks, one per non-blank line, read as they are needed: a file of any size streams through. */
async function* argsOf(file: string, counter: { lines: number }): AsyncGenerator<unknown[]> {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const line of lines) {
      const args = parseArgsLine(line, file, ++lineNo);
      if (args === undefined) continue;
      counter.lines++;
      yield args;
    }
  } finally {
    lines.close();
  }
  if (counter.lines === 0) throw new CliError(`${file}: no tasks (the file has no non-blank lines)`, 2);
}

/**
 * Every line checked before the first task is submitted, in one streaming pass that holds nothing: a
 * bad line 40,000 fails the command with its line number, not after half of the file ran.
 */
async function checkArgsFile(file: string): Promise<void> {
  const counter = { lines: 0 };
  for await (const args of argsOf(file, counter)) void args;
}

export function configureBatchCommand(program: Command, context: CliContext): void {
  const batch = program
    .command('batch')
    .description('run a function once per line of an args file, with progress; prints the batch id first ("fx watch <id>" re-attaches)')
    .argument('<function>', 'function id or name')
    .requiredOption('--endpoint <endpoint>', 'endpoint id or name')
    .requiredOption('--args-file <file>', 'JSON Lines: one JSON array of arguments per line, e.g. [1, 2]; read as it is submitted, so it may be any size')
    .option('--window <n>', 'most tasks submitted and not yet finished; the file is read no further ahead', '10000')
    .option('--priority <0-9>', 'of every task of the batch: higher goes first in the endpoint’s queue (default 5)', parsePriority)
    .option(
      '--speculate-after <factor>',
      'copy stragglers of an idempotent function: a task running this many times the median runtime gets a copy on another worker (more than 1, e.g. 3)',
      parseSpeculationFactor,
    )
    .option('--speculate-min-samples <n>', 'with --speculate-after: succeeded tasks needed before any copy (default 5)', parsePositiveInt);
  addCacheOptions(batch).action(async (fnRef: string, options: BatchOptions, command: Command) => {
    const json = wantsJson(command);
    const window = Number(options.window);
    if (!Number.isInteger(window) || window < 1) throw new CliError(`--window must be a whole number of at least 1, got ${options.window}`, 2);
    try {
      await access(options.argsFile);
    } catch (error) {
      throw new CliError(`cannot read the args file ${options.argsFile}: ${(error as Error).message}`, 2);
    }
    if (options.speculateMinSamples !== undefined && options.speculateAfter === undefined) {
      throw new CliError('--speculate-min-samples applies with --speculate-after', 2);
    }
    await checkArgsFile(options.argsFile);
    const summary = await withClient(context, async (client) => {
      const endpointId = endpointRef(options.endpoint);
      // One version for the whole batch, even when the name gets a new version meanwhile.
      const { id: functionId } = await client.getFunction(functionRef(fnRef));
      const batchIds: string[] = [];
      const counter = { lines: 0 };
      const outcomes = client.mapOutcomes(functionId, endpointId, argsOf(options.argsFile, counter), {
        ordered: false,
        window,
        chunkSize: Math.min(1000, window),
        toArgs: (args) => args,
        // an interrupted wait leaves the tasks running, for "fx watch" to follow
        cancelOnStop: false,
        // Said before the first task is submitted, so an interrupted wait can be resumed.
        onGroup: (groupId) => {
          batchIds.push(groupId);
          if (!json) context.out(groupId);
          context.err(`Batch ${groupId}: submitting as the file is read; "fx watch ${groupId}" re-attaches.`);
        },
        onWarning: (w) => noticeWarning(context, options.endpoint, w),
        ...(options.priority !== undefined ? { priority: options.priority } : {}),
        ...(options.cache === undefined ? {} : { cache: options.cache }),
        ...(options.speculateAfter === undefined
          ? {}
          : {
              speculation: {
                afterFactor: options.speculateAfter,
                ...(options.speculateMinSamples === undefined ? {} : { minSamples: options.speculateMinSamples }),
              },
            }),
      });
      return followOutcomes(
        context,
        batchIds,
        (async function* () {
          for await (const o of outcomes) yield o.outcome;
        })(),
        () => counter.lines,
      );
    });
    if (json) printJson(context, summary);
    else reportSummary(context, summary);
    if (summary.succeeded !== summary.total) throw new CliError('', 1);
  });
}
