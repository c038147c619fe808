import type { Command } from 'commander';
import type { CliContext } from '../cli.context.js';
import { wantsJson, withClient } from '../command.helpers.js';
import { formatTime, formatValue, printJson } from '../output.js';
import { checkTaskId } from '../resolve.js';
import { namesOf } from './tasks.js';

export function configureTaskCommand(program: Command, context: CliContext): void {
  program
    .command('task')
    .description('one task: its timeline, attempt, arguments, result or error, and what it printed')
    .argument('<task>', 'task id')
    .action(async (ref: string, _options: object, command: Command) => {
      const id = checkTaskId(ref);
      const json = wantsJson(command);
      const { task, names } = await withClient(context, async (client) => {
        const task = await client.getTask(id);
        return { task, names: json ? new Map<string, string>() : await namesOf(client) };
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
        // As the API numbers it: 0 is the first try, each requeue after a lost lease adds one.
        ['attempt', String(task.attempt)],
        ['priority', String(task.priority)],
        ['received', formatTime(t.receivedAt)],
        ['waiting', formatTime(t.waitingAt)],
        ['dispatched', formatTime(t.dispatchedAt)],
        ['running', formatTime(t.runningAt)],
        ['completed', formatTime(t.completedAt)],
        ['args', JSON.stringify(task.args)],
      ];
      if (Object.keys(task.kwargs).length > 0) rows.push(['kwargs', JSON.stringify(task.kwargs)]);
      for (const [k, v] of rows) context.out(`${k.padEnd(11)}${v}`);
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
    });
}
