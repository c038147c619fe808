import type { Command } from 'commander';
import { TimeoutError, type TaskOutcome } from '@fx/sdk';
import type { CliContext } from '../cli.context.js';
import { CliError } from '@fx/cli-kit';
import { inlineResult, noticeWarning, reportFailure, reportOutput, wantsJson, withClient } from '../command.helpers.js';
import { formatValue, printJson } from '../output.js';
import { parseJsonArray, parseJsonObject, parsePriority } from '../parse.js';
import { parsePositiveNumber } from '@fx/cli-kit';
import { endpointRef, functionRef } from '../resolve.js';
import { addRetryOptions, retryPolicyFrom, type RetryOptions } from '../retry.options.js';
import { addCacheOptions } from './cache.js';

interface RunOptions extends RetryOptions {
  endpoint: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  timeout?: number;
  priority?: number;
  cache?: boolean;
}

export function configureRunCommand(program: Command, context: CliContext): void {
  const run = program
    .command('run')
    .description('run a function once on an endpoint, wait, and print its result as JSON')
    .argument('<function>', 'function id or name')
    .requiredOption('--endpoint <endpoint>', 'endpoint id or name')
    .option('--args <json>', 'positional arguments, a JSON array', parseJsonArray)
    .option('--kwargs <json>', 'keyword arguments, a JSON object', parseJsonObject)
    .option('--timeout <seconds>', 'stop waiting after this long (the task keeps running)', parsePositiveNumber)
    .option('--priority <0-9>', 'higher goes first in the endpoint’s queue (default 5)', parsePriority);
  addRetryOptions(addCacheOptions(run), 'the task').action(async (fnRef: string, options: RunOptions, command: Command) => {
    const json = wantsJson(command);
    const retry = retryPolicyFrom(options);
    const [functionId, endpointId] = [functionRef(fnRef), endpointRef(options.endpoint)];
    const outcome = await withClient(context, async (client) => {
      const taskId = await client.run(functionId, endpointId, options.args ?? [], options.kwargs ?? {}, {
        onWarning: (w) => noticeWarning(context, options.endpoint, w),
        ...(retry ? { retry } : {}),
        ...(options.priority !== undefined ? { priority: options.priority } : {}),
        ...(options.cache === undefined ? {} : { cache: options.cache }),
      });
      const timeoutMs = options.timeout === undefined ? undefined : options.timeout * 1000;
      const off = context.onInterrupt(() =>
        context.err(`Stopped waiting; task ${taskId} keeps running: "fx result ${taskId}" shows it later, "fx cancel ${taskId}" stops it.`),
      );
      try {
        for await (const outcome of client.results([taskId], { timeoutMs })) return await inlineResult(context, client, outcome);
      } catch (error) {
        if (error instanceof TimeoutError) {
          throw new CliError(`task ${taskId} did not finish within ${options.timeout} s; it keeps running: "fx result ${taskId}" shows it later`);
        }
        throw error;
      } finally {
        off();
      }
      throw new CliError(`no outcome arrived for task ${taskId}`);
    });
    printOutcome(context, outcome, json);
    // The failure is reported above; exit 1 without another sentence.
    if (outcome.status !== 'success') throw new CliError('', 1);
  });
}

/**
 * Prints a final outcome: the result on stdout, or the remote error on stderr (and the outcome as JSON
 * with --json); what the task printed (python) goes to stderr, so stdout stays the result.
 */
export function printOutcome(context: CliContext, outcome: TaskOutcome, json: boolean): void {
  if (json) printJson(context, outcome);
  if (!json) reportOutput(context, outcome);
  if (outcome.status === 'success') {
    if (!json) context.out(formatValue(outcome.result));
    return;
  }
  reportFailure(context, outcome);
}
