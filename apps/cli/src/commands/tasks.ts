import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { Client, TaskStatus, TaskSummary } from '@fx/sdk';
import { TaskStatus as TaskStatusSchema } from '@fx/protocol';
import type { CliContext } from '../cli.context.js';
import { wantsJson, withClient } from '../command.helpers.js';
import { formatTable, formatTime, printJson } from '../output.js';
import { parseSince } from '../parse.js';
import { parsePositiveInt } from '@fx/cli-kit';
import { endpointRef, functionRef } from '../resolve.js';

// the protocol's own list: a state added there is accepted here
const STATUSES: readonly TaskStatus[] = TaskStatusSchema.options;

interface TasksOptions {
  status?: TaskStatus[];
  endpoint?: string;
  function?: string;
  batch?: string;
  since?: string;
  limit: number;
}

export function configureTasksCommand(program: Command, context: CliContext): void {
  program
    .command('tasks')
    .description('list your tasks, newest first')
    .option('--status <status>', `only these states, comma-separated (${STATUSES.join(', ')})`, parseStatuses)
    .option('--endpoint <endpoint>', 'only tasks sent to this endpoint (id or name)')
    .option('--function <function>', 'only tasks of this function (id or name)')
    .option('--batch <batch>', 'only tasks of this batch')
    .option('--since <when>', 'received since an ISO 8601 time or a duration back from now (10m, 2h, 7d)', (v) => parseSince(v, context.now()))
    .option('--limit <n>', 'at most this many rows (pages through the server 1,000 at a time)', parsePositiveInt, 50)
    .action(async (options: TasksOptions, command: Command) => {
      // Names go to the server as they are: it resolves them (a bare function name: its newest version).
      const endpointId = options.endpoint === undefined ? undefined : endpointRef(options.endpoint);
      const functionId = options.function === undefined ? undefined : functionRef(options.function);
      const { items, more, names } = await withClient(context, async (client) => {
        const items: TaskSummary[] = [];
        let cursor: string | undefined;
        do {
          const page = await client.listTasks({
            limit: Math.min(1000, options.limit - items.length),
            ...(options.status ? { status: options.status } : {}),
            ...(endpointId ? { endpointId } : {}),
            ...(functionId ? { functionId } : {}),
            ...(options.batch ? { batchId: options.batch } : {}),
            ...(options.since ? { since: options.since } : {}),
            ...(cursor === undefined ? {} : { cursor }),
          });
          items.push(...page.items);
          cursor = page.nextCursor ?? undefined;
        } while (cursor !== undefined && items.length < options.limit);
        return {
          items,
          more: cursor !== undefined,
          names: wantsJson(command)
            ? new Map<string, string>()
            : await namesOf(
                client,
                items.map((t) => t.functionId),
              ),
        };
      });
      // the newest N must not pass for all of them (stderr, so that --json stays one document)
      if (more) context.err(`(the newest ${items.length} tasks that match; there are more: pass --limit, or narrow with --since or --status)`);
      if (wantsJson(command)) return printJson(context, { items });
      if (items.length === 0) return context.out('No tasks match.');
      context.out(
        formatTable(
          ['ID', 'STATUS', 'FUNCTION', 'ENDPOINT', 'ATTEMPT', 'RECEIVED', 'COMPLETED', 'ERROR'],
          items.map((t) => [
            t.id,
            t.status,
            names.get(t.functionId) ?? t.functionId,
            names.get(t.endpointId) ?? t.endpointId,
            String(t.attempt),
            formatTime(t.receivedAt),
            formatTime(t.completedAt),
            t.errorCode ? `${t.errorCode}: ${t.errorMessage ?? ''}`.slice(0, 80) : '',
          ]),
        ),
      );
    });
}

function parseStatuses(value: string): TaskStatus[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of list) if (!STATUSES.includes(s as TaskStatus)) throw new InvalidArgumentError(`"${s}" is not a task state; use ${STATUSES.join(', ')}.`);
  return list as TaskStatus[];
}

/** How many functions are listed for the names (an explicit limit: past it, lookups, not ListTruncatedError). */
export const LISTED_FOR_NAMES = 1000;
/** Past the functions listed, how many of the ids shown are looked up one by one (each answer carries its source). */
export const MAX_NAME_LOOKUPS = 20;

/**
 * Names for the ids in a table: your endpoints', and the functions' that `functionIds` (the rows) name.
 * Functions are listed without their sources (other users' public ones are theirs to make large); an
 * id past the first 1,000 listed is looked up alone, up to MAX_NAME_LOOKUPS. A lookup that fails only
 * costs the names.
 */
export async function namesOf(client: Client, functionIds: Iterable<string>): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const [functions, endpoints] = await Promise.all([
    client.listFunctions({ source: false, limit: LISTED_FOR_NAMES }).catch(() => []),
    client.listEndpoints().catch(() => []),
  ]);
  for (const x of [...functions, ...endpoints]) names.set(x.id, x.name);
  const unnamed = [...new Set(functionIds)].filter((id) => !names.has(id)).slice(0, MAX_NAME_LOOKUPS);
  await Promise.all(
    unnamed.map((id) =>
      client.getFunction(id).then(
        (f) => names.set(id, f.name),
        () => undefined,
      ),
    ),
  );
  return names;
}
