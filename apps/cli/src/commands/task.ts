import type { Command } from 'commander';
import type { CliContext } from '../cli.context.js';
import { wantsJson, withClient, taskCommand } from '../command.helpers.js';
import { formatTime, formatValue, printJson, printRecord } from '../output.js';
import { checkTaskId } from '../resolve.js';
import { namesOf } from './tasks.js';
import { attemptLines, describeRetry } from '../retry.options.js';

export function configureTaskCommand(program: Command, context: CliContext): void {
  taskCommand(program, 'task', 'one task: its timeline, attempts, arguments, result or error, and what it printed').action(
    async (ref: string, _options: object, command: Command) => {
      const id = checkTaskId(ref);
      const json = wantsJson(command);
      const { task, names } = await withClient(context, async (client) => {
        const task = await client.getTask(id);
        return { task, names: json ? new Map<string, string>() : await namesOf(client, [task.functionId]) };
      });
      if (json) return printJson(context, task);
      const named = (value: string) => (names.has(value) ? `${names.get(value)} (${value})` : value);
      const t = task.timeline;
      const rows: Array<[string, string]> = [
        ['task', task.id],
        ['status', task.status],
        ['function', named(task.functionId)],
        ['endpoint', named(task.endpointId)],
        ['batch', task.batchId ?? '-'],
        // As the API numbers it: 0 is the first try, each requeue (a lost lease, a retry) adds one.
        ['attempt', String(task.attempt)],
        ['priority', String(task.priority)],
        ...(task.retry ? [['retry', describeRetry(task.retry)] as [string, string]] : []),
        ['received', formatTime(t.receivedAt)],
        ['waiting', formatTime(t.waitingAt)],
        ['dispatched', formatTime(t.dispatchedAt)],
        ['running', formatTime(t.runningAt)],
        ['completed', formatTime(t.completedAt)],
        // a shared cache's source is another user's task: its id is not shown (nor readable)
        ...(task.cached ? [['cached', task.cachedFrom ? `from task ${task.cachedFrom}` : 'yes (from a task you may not read)'] as [string, string]] : []),
        ...(t.retryAt ? [['retry at', formatTime(t.retryAt)] as [string, string]] : []),
        ['args', JSON.stringify(task.args)],
      ];
      if (Object.keys(task.kwargs).length > 0) rows.push(['kwargs', JSON.stringify(task.kwargs)]);
      printRecord(context, rows, 11);
      // every attempt, numbered from 1: where it ran, when, and how it ended
      if (task.attempts.length > 0) context.out(`attempts\n${attemptLines(task.attempts).join('\n')}`);
      if (task.status === 'success') context.out(`result\n${formatValue(task.result)}`);
      if (task.error) {
        context.out(`error      ${task.error.name}: ${task.error.message} [${task.error.code}]`);
        if (task.error.stack) context.out(`stack\n${task.error.stack}`);
      }
      // what it printed (python), stream by stream; `truncated`: only the last lines were kept
      for (const stream of ['stdout', 'stderr'] as const) {
        const text = task.output?.[stream];
        if (text) context.out(`${stream}${task.output?.truncated ? ' (last lines)' : ''}\n${text.replace(/\n$/, '')}`);
      }
    },
  );
}
