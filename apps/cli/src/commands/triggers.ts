import type { Command } from 'commander';
import { NotFoundError, type TriggerInfo } from '@fx/sdk';
import { CliError } from '@fx/cli-kit';
import { ObjectPrefix } from '@fx/protocol';
import type { CliContext } from '../cli.context.js';
import { listAction, serverAction, wantsJson, withClient, listCommand } from '../command.helpers.js';
import { formatTime, printJson, printRecord } from '../output.js';
import { checkTaskId, endpointRef, functionRef } from '../resolve.js';

interface CreateOptions {
  prefix: string;
  function: string;
  endpoint: string;
  outputPrefix?: string;
  fromMembers?: boolean;
}

export function configureTriggersCommand(program: Command, context: CliContext): void {
  const triggers = program
    .command('triggers')
    .description('run a function for every object you put under a name prefix: create, list, show and delete triggers');

  triggers
    .command('create')
    .description('objects you put (fx put --name) under --prefix run --function on --endpoint, once each, with the object as its argument')
    .requiredOption('--prefix <prefix>', 'names starting with this fire it, e.g. input/')
    .requiredOption('--function <function>', 'function id or name')
    .requiredOption('--endpoint <endpoint>', 'endpoint id or name')
    .option('--output-prefix <prefix>', "store each result as an object under this prefix, with the rest of the input's name (input/a.csv → output/a.csv)")
    .option(
      '--from-members',
      "also fire on named outputs that another user's endpoint (a member of your endpoint group) stored for your tasks; it chose their names and bytes",
    )
    .action(async (options: CreateOptions, command: Command) => {
      const request = {
        prefix: prefix('--prefix', options.prefix),
        function: functionRef(options.function),
        endpoint: endpointRef(options.endpoint),
        ...(options.outputPrefix === undefined ? {} : { outputPrefix: prefix('--output-prefix', options.outputPrefix) }),
        ...(options.fromMembers ? { fromMembers: true } : {}),
      };
      const trigger = await withClient(context, (client) => client.triggers.create(request));
      if (wantsJson(command)) return printJson(context, trigger);
      context.out(trigger.id);
      const output = trigger.outputPrefix === null ? 'results kept with their tasks' : `results stored under "${trigger.outputPrefix}"`;
      context.err(`Created trigger ${trigger.id}: objects you put under "${trigger.prefix}" run ${options.function} on ${options.endpoint}, ${output}.`);
    });

  listCommand(triggers, 'your triggers, oldest first, with how many tasks each has started').action(
    listAction(context, (client) => client.triggers.list(), {
      header: ['ID', 'PREFIX', 'OUTPUT PREFIX', 'FUNCTION', 'ENDPOINT', 'FIRED', 'CREATED'],
      row: (t) => [t.id, t.prefix, t.outputPrefix ?? '-', t.functionId, t.endpointId, String(t.fired), formatTime(t.createdAt)],
      empty: 'No triggers. Create one with: fx triggers create --prefix input/ --function <f> --endpoint <e>',
    }),
  );

  triggers
    .command('show')
    .description('one trigger: its prefixes, function, endpoint, and how many tasks it has started')
    .argument('<id>', 'trigger id')
    .action(
      serverAction(context, (ref: string) => {
        const id = checkTaskId(ref, 'trigger id');
        return { ask: (client) => client.triggers.get(id).catch(notFound(id)), show: (t) => printRecord(context, rows(t), 15) };
      }),
    );

  triggers
    .command('rm')
    .description('delete triggers: they fire no more; the tasks they started run on')
    .argument('<id...>', 'trigger ids')
    .action(
      serverAction(context, (refs: string[]) => {
        const ids = refs.map((r) => checkTaskId(r, 'trigger id'));
        return {
          ask: async (client) => {
            for (const id of ids) await client.triggers.delete(id).catch(notFound(id));
          },
          json: () => ({ deleted: ids }),
          show: () => ids.forEach((id) => context.out(`Deleted trigger ${id}.`)),
        };
      }),
    );
}

function prefix(flag: string, value: string): string {
  if (!ObjectPrefix.safeParse(value).success) throw new CliError(`${flag} ${value}: a prefix holds only letters, digits and . _ - + = @ /`, 2);
  return value;
}

const rows = (t: TriggerInfo): Array<[string, string]> => [
  ['id', t.id],
  ['prefix', t.prefix],
  ['output prefix', t.outputPrefix ?? '- (results kept with their tasks)'],
  ['from members', t.fromMembers ? "yes: group members' named outputs fire it too" : 'no: only objects you or your endpoints put'],
  ['function', t.functionId],
  ['endpoint', t.endpointId],
  ['fired', `${t.fired} task${t.fired === 1 ? '' : 's'}`],
  ['created', formatTime(t.createdAt)],
];

const notFound = (id: string) => (error: unknown) => {
  throw error instanceof NotFoundError ? new CliError(`no trigger ${id} (or it is not yours to see)`) : error;
};
