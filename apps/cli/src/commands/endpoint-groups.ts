import type { Command } from 'commander';
import { NotFoundError, type EndpointGroupInfo } from '@fx/sdk';
import { CliError } from '@fx/cli-kit';
import { EndpointGroupName } from '@fx/protocol';
import type { CliContext } from '../cli.context.js';
import { listAction, serverAction, wantsJson, withClient, listCommand } from '../command.helpers.js';
import { formatTime, printJson, printRecord, printTable } from '../output.js';
import { checkTaskId, endpointRef } from '../resolve.js';

/**
 * `fx endpoint-groups`: several endpoints under one name. The group's id or name then goes wherever an
 * endpoint does (`fx run add pool 1 2`, `fx batch --endpoint pool`): each task goes to an online member
 * with free capacity, and a member's waiting tasks move to the others when it goes offline.
 */
export function configureEndpointGroupsCommand(program: Command, context: CliContext): void {
  const groups = program
    .command('endpoint-groups')
    .alias('egroups')
    .description('several endpoints under one name, usable wherever an endpoint is: create, list, show, delete groups and manage their members');

  groups
    .command('create')
    .description("a new group; your endpoints join at once, another user's endpoint id is invited until its owner accepts")
    .argument('<name>', 'the group name (unique among your groups)')
    .argument('[endpoints...]', 'member endpoint ids or names')
    .action(async (name: string, endpoints: string[], _options: object, command: Command) => {
      if (!EndpointGroupName.safeParse(name).success)
        throw new CliError(`"${name}" is not a group name: letters, digits, ".", "_" or "-", not shaped like an id`, 2);
      const members = endpoints.map(endpointRef);
      const g = await withClient(context, (client) => client.endpointGroups.create(name, members));
      if (wantsJson(command)) return printJson(context, g);
      context.out(g.id);
      context.err(`Created endpoint group ${g.name} (${g.id}) with ${describeMembers(g)}. Send tasks to it with: fx run <function> ${g.name} ...`);
    });

  listCommand(groups, 'your endpoint groups, oldest first').action(
    listAction(context, (client) => client.endpointGroups.list(), {
      header: ['ID', 'NAME', 'MEMBERS', 'ONLINE', 'INVITED', 'CREATED'],
      row: (g) => [
        g.id,
        g.name,
        String(g.members.filter((m) => m.state === 'active').length),
        String(g.members.filter((m) => m.online).length),
        String(g.members.filter((m) => m.state === 'invited').length),
        formatTime(g.createdAt),
      ],
      empty: 'No endpoint groups. Create one with: fx endpoint-groups create <name> <endpoint>...',
    }),
  );

  groups
    .command('show')
    .description('one group and its members: state (active or invited) and whether each is online')
    .argument('<group>', 'group id or name')
    .action(
      serverAction(context, (ref: string) => ({
        ask: (client) => client.endpointGroups.get(groupRef(ref)).catch(notFound(ref)),
        show: (g) => {
          printRecord(
            context,
            [
              ['id', g.id],
              ['name', g.name],
              ['created', formatTime(g.createdAt)],
            ],
            10,
          );
          printTable(context, g.members, {
            header: ['ENDPOINT', 'NAME', 'STATE', 'ONLINE', 'ADDED'],
            row: (m) => [m.endpointId, m.name ?? '-', m.state, m.online === null ? '-' : m.online ? 'yes' : 'no', formatTime(m.addedAt)],
            empty: 'No members. Add one with: fx endpoint-groups add <group> <endpoint>',
          });
        },
      })),
    );

  groups
    .command('rm')
    .description('delete groups: they take no more tasks; tasks already sent run on the members chosen for them')
    .argument('<group...>', 'group ids or names')
    .action(
      serverAction(context, (refs: string[]) => ({
        ask: async (client) => {
          for (const ref of refs) await client.endpointGroups.delete(groupRef(ref)).catch(notFound(ref));
        },
        json: () => ({ deleted: refs }),
        show: () => refs.forEach((ref) => context.out(`Deleted endpoint group ${ref}.`)),
      })),
    );

  groups
    .command('add')
    .description("add members: your endpoints join at once, another user's endpoint id is invited until its owner accepts")
    .argument('<group>', 'group id or name')
    .argument('<endpoints...>', 'endpoint ids or names')
    .action(async (ref: string, endpoints: string[], _options: object, command: Command) => {
      const members = endpoints.map(endpointRef);
      const g = await withClient(context, async (client) => {
        let last: EndpointGroupInfo | undefined;
        for (const e of members) last = await client.endpointGroups.addMember(groupRef(ref), e).catch(notFound(ref));
        return last!;
      });
      if (wantsJson(command)) return printJson(context, g);
      context.out(`Endpoint group ${g.name} has ${describeMembers(g)}.`);
    });

  groups
    .command('remove')
    .description("remove a member (as the group's owner), or take your endpoint out of another user's group; its waiting tasks move to the other members")
    .argument('<group>', 'group id (or the name of one of yours)')
    .argument('<endpoint-id>', 'the member endpoint id')
    .action(async (ref: string, endpoint: string, _options: object, command: Command) => {
      const id = checkTaskId(endpoint, 'endpoint id');
      await withClient(context, (client) => client.endpointGroups.removeMember(groupRef(ref), id).catch(notFound(ref)));
      if (wantsJson(command)) return printJson(context, { removed: id });
      context.out(`Removed endpoint ${id} from endpoint group ${ref}.`);
    });

  for (const [verb, past] of [
    ['accept', 'Accepted'],
    ['decline', 'Declined'],
  ] as const) {
    groups
      .command(verb)
      .description(`${verb} an invitation of your endpoint into another user's group (see fx endpoint-groups invitations)`)
      .argument('<group-id>', 'the inviting group id')
      .argument('<endpoint-id>', 'your endpoint id')
      .action(async (group: string, endpoint: string, _options: object, command: Command) => {
        const [g, e] = [checkTaskId(group, 'group id'), checkTaskId(endpoint, 'endpoint id')];
        await withClient(context, (client) => client.endpointGroups[verb](g, e).catch(noInvitation(g, e)));
        if (wantsJson(command)) return printJson(context, { groupId: g, endpointId: e, [verb === 'accept' ? 'accepted' : 'declined']: true });
        context.out(`${past} the invitation of endpoint ${e} into endpoint group ${g}.`);
      });
  }

  groups
    .command('invitations')
    .description("invitations of your endpoints into other users' groups")
    .action(
      listAction(context, (client) => client.endpointGroups.invitations(), {
        header: ['GROUP', 'GROUP NAME', 'OWNER', 'ENDPOINT', 'ENDPOINT NAME', 'INVITED'],
        row: (i) => [i.groupId, i.groupName, i.ownerName ?? i.ownerId, i.endpointId, i.endpointName, formatTime(i.invitedAt)],
        empty: 'No invitations.',
      }),
    );
}

const groupRef = (ref: string) => endpointRef(ref);

function describeMembers(g: EndpointGroupInfo): string {
  const active = g.members.filter((m) => m.state === 'active').length;
  const invited = g.members.length - active;
  return `${active} member${active === 1 ? '' : 's'}${invited ? ` and ${invited} invited` : ''}`;
}

const notFound = (ref: string) => (error: unknown) => {
  throw error instanceof NotFoundError ? new CliError(`no endpoint group ${ref} (or it is not yours), or no such member`) : error;
};

const noInvitation = (group: string, endpoint: string) => (error: unknown) => {
  throw error instanceof NotFoundError ? new CliError(`no invitation of endpoint ${endpoint} into endpoint group ${group} among yours`) : error;
};
