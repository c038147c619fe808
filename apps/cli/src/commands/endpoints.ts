import type { Command } from 'commander';
import type { CliContext } from '../cli.context.js';
import { wantsJson, withClient } from '../command.helpers.js';
import { formatTable, formatTime, printJson, printRecord } from '../output.js';
import { CliError } from '@fx/cli-kit';
import { endpointRef, functionRef, isUuid } from '../resolve.js';

export function configureEndpointsCommand(program: Command, context: CliContext): void {
  const endpoints = program
    .command('endpoints')
    .description('list your endpoints (and the public ones you may use), or show one')
    .action(async (_options: object, command: Command) => {
      const list = await withClient(context, (client) => client.listEndpoints());
      if (wantsJson(command)) return printJson(context, { items: list });
      if (list.length === 0) return context.out('No endpoints. Register one with: fx-endpoint configure <name> --url … --token-file …');
      context.out(
        formatTable(
          ['NAME', 'ID', 'STATE', 'AGENT', 'LAST HEARTBEAT'],
          list.map((e) => [e.name, e.id, e.state, e.status?.state ?? '-', formatTime(e.lastHeartbeatAt)]),
        ),
      );
    });

  endpoints
    .command('show')
    .description('state, agent status and queue of one endpoint')
    .argument('<endpoint>', 'endpoint id or name')
    .action(async (ref: string, _options: object, command: Command) => {
      const { endpoint, status } = await withClient(context, async (client) => {
        const id = endpointRef(ref);
        const [endpoint, status] = await Promise.all([client.getEndpoint(id), client.getEndpointStatus(id)]);
        return { endpoint, status };
      });
      if (wantsJson(command)) return printJson(context, { ...endpoint, tasks: status.tasks });
      // status is null while offline; the last report is still worth showing, marked as such
      const s = endpoint.status ?? endpoint.lastStatus;
      const rows: Array<[string, string]> = [
        ['name', endpoint.name],
        ['id', endpoint.id],
        ['state', endpoint.state],
        // The agent's own report is only current while it is connected.
        ['agent', s ? `${s.state}${endpoint.state === 'offline' ? ' (last report, agent offline)' : ''}` : '-'],
        ['provider', s?.provider ?? '-'],
        ['workers', s ? `${s.workers.total} (${s.workers.busy} busy, ${s.workers.idle} idle)` : '-'],
        ['queue', `${status.tasks.waiting} waiting, ${status.tasks.dispatched} dispatched, ${status.tasks.running} running`],
        ['last heartbeat', formatTime(endpoint.lastHeartbeatAt)],
        ['connected', formatTime(endpoint.connectedAt)],
        ['created', formatTime(endpoint.createdAt)],
      ];
      if (endpoint.description) rows.push(['description', endpoint.description]);
      printRecord(context, rows, 15);
    });

  endpoints
    .command('allow')
    .description('set which functions an endpoint may run (its agent picks the new list up at once), or with --any lift the restriction')
    .argument('<endpoint>', 'endpoint id or name')
    .argument('[functions...]', 'function ids or names (name, name@version)')
    .option('--any', 'let the endpoint run any function')
    .action(async (ref: string, fns: string[], options: { any?: boolean }, command: Command) => {
      if (options.any && fns.length) throw new CliError('give functions or --any, not both', 2);
      if (!options.any && fns.length === 0) throw new CliError('name the functions the endpoint may run, or pass --any', 2);
      const refs = fns.map(functionRef);
      const endpoint = await withClient(context, async (client) => {
        // a name means the version it resolves to now, as at submit
        const ids = await Promise.all(refs.map(async (f) => (isUuid(f) ? f : (await client.getFunction(f)).id)));
        return client.updateEndpoint(endpointRef(ref), { allowedFunctions: options.any ? null : [...new Set(ids)] });
      });
      if (wantsJson(command)) return printJson(context, endpoint);
      const list = endpoint.allowedFunctions;
      context.out(list === null ? `${endpoint.name} may run any function` : `${endpoint.name} may run ${list.length} function(s): ${list.join(', ')}`);
    });
}
