import type { Command } from 'commander';
import { NotFoundError, type ObjectInfo } from '@fx/sdk';
import { CliError, parsePositiveInt } from '@fx/cli-kit';
import { ObjectPrefix } from '@fx/protocol';
import type { CliContext } from '../cli.context.js';
import { wantsJson, withClient, listCommand } from '../command.helpers.js';
import { objectName, objectRef } from '../objects.resolve.js';
import { formatBytes, formatTable, formatTime, printJson } from '../output.js';

interface LsOptions {
  prefix?: string;
  name?: string;
  limit?: number;
}

export function configureObjectsCommand(program: Command, context: CliContext): void {
  const objects = program.command('objects').description('list, show and delete your objects ("fx put" stores them, "fx get" reads them)');

  listCommand(objects, 'your objects, newest first, with your storage usage and quota')
    .option('--prefix <prefix>', 'only names starting with this, e.g. input/')
    .option('--name <name>', 'only the object of exactly this name')
    .option('--limit <n>', 'at most this many (default: all)', parsePositiveInt)
    .action(async (options: LsOptions, command: Command) => {
      if (options.prefix !== undefined && !ObjectPrefix.safeParse(options.prefix).success) {
        throw new CliError(`--prefix ${options.prefix}: a prefix holds only letters, digits and . _ - + = @ /`, 2);
      }
      const query = {
        ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
        ...(options.name === undefined ? {} : { name: objectName(options.name) }),
      };
      const { items, usage } = await withClient(context, async (client) => {
        const found: ObjectInfo[] = [];
        let usage;
        let cursor: string | undefined;
        do {
          const page = await client.objects.list({ ...query, limit: Math.min(1000, options.limit ?? 1000), ...(cursor === undefined ? {} : { cursor }) });
          usage ??= page.usage;
          found.push(...page.items.slice(0, (options.limit ?? Infinity) - found.length));
          cursor = page.nextCursor ?? undefined;
        } while (cursor !== undefined && found.length < (options.limit ?? Infinity));
        return { items: found, usage };
      });
      if (wantsJson(command)) return printJson(context, { items, ...(usage ? { usage } : {}) });
      if (items.length === 0) context.err('No objects.');
      else
        context.out(
          formatTable(
            ['ID', 'NAME', 'SIZE', 'ENCODING', 'CREATED', 'EXPIRES'],
            items.map((o) => [o.id, o.name ?? '-', formatBytes(o.size), o.encoding, formatTime(o.createdAt), formatTime(o.expiresAt)]),
          ),
        );
      if (usage) context.err(`Using ${formatBytes(usage.bytes)} of ${formatBytes(usage.quotaBytes)}.`);
    });

  objects
    .command('show')
    .description("an object's record: id, name, size, sha256, encoding, expiry, and the reference tasks take")
    .argument('<object>', 'object id or name')
    .action(async (ref: string, _options: object, command: Command) => {
      const info = await withClient(context, (client) => client.objects.info(objectRef(ref)).catch(notFound(ref)));
      if (wantsJson(command)) return printJson(context, info);
      for (const [k, v] of [
        ['id', info.id],
        ['name', info.name ?? '-'],
        ['size', `${formatBytes(info.size)} (${info.size} bytes)`],
        ['encoding', info.encoding],
        ['sha256', info.sha256],
        ['created', formatTime(info.createdAt)],
        ['expires', formatTime(info.expiresAt)],
        ['task', info.taskId ?? '-'],
        ['ref', JSON.stringify(info.ref)],
      ] as const) {
        context.out(`${k.padEnd(9)}${v}`);
      }
    });

  objects
    .command('rm')
    .description('delete objects; their bytes go once nothing that can still run refers to them')
    .argument('<object...>', 'object ids or names')
    .action(async (refs: string[], _options: object, command: Command) => {
      const checked = refs.map(objectRef);
      const deleted = await withClient(context, async (client) => {
        const ids: string[] = [];
        for (const ref of checked) {
          const { id } = await client.objects.resolve(ref).catch(notFound(ref));
          await client.objects.delete(id).catch(notFound(ref));
          ids.push(id);
        }
        return ids;
      });
      if (wantsJson(command)) return printJson(context, { deleted });
      deleted.forEach((id, i) => context.out(`Deleted object ${id}${checked[i] === id ? '' : ` (${checked[i]})`}.`));
    });
}

const notFound = (ref: string) => (error: unknown) => {
  throw error instanceof NotFoundError ? new CliError(`no object ${ref} (or it is not yours to see)`) : error;
};
