import type { Command } from 'commander';
import type { CliContext } from '../cli.context.js';
import { wantsJson, withClient } from '../command.helpers.js';
import { printJson } from '../output.js';

export function configureWhoamiCommand(program: Command, context: CliContext): void {
  program
    .command('whoami')
    .description('show who the saved token (or FX_TOKEN) acts for, on which server')
    .action(async (_options: object, command: Command) => {
      const { url } = await context.credentials.resolve();
      const me = await withClient(context, (client) => client.whoami());
      if (wantsJson(command)) return printJson(context, { url, user: me.user, tokenId: me.tokenId });
      context.out(`${me.user.name}${me.user.admin ? ' (admin)' : ''}, user ${me.user.id}, on ${url}`);
    });
}
