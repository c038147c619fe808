import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { AuditAction, AuditEntry, AuditQueryOptions, AuditTargetType } from '@fx/sdk';
import { AuditAction as AuditActionSchema, AuditTargetType as AuditTargetTypeSchema } from '@fx/protocol';
import { parsePositiveInt } from '@fx/cli-kit';
import type { CliContext } from '../cli.context.js';
import { wantsJson, withClient } from '../command.helpers.js';
import { formatTable, formatTime, printJson } from '../output.js';
import { parseSince } from '../parse.js';
import { checkTaskId } from '../resolve.js';

// the protocol's own lists: an action added there is accepted here
const ACTIONS: readonly string[] = AuditActionSchema.options;
const TARGET_TYPES: readonly string[] = AuditTargetTypeSchema.options;
/** Rows of the table when --limit is not given. */
const TABLE_ROWS = 50;

interface AuditOptions {
  action?: AuditAction;
  since?: string;
  targetType?: AuditTargetType;
  target?: string;
  actor?: string;
  jsonl?: boolean;
  limit?: number;
}

export function configureAuditCommand(program: Command, context: CliContext): void {
  program
    .command('audit')
    .description('the audit log: who did what (tokens, functions, endpoints, submissions, objects, triggers); admins see all, you what concerns you')
    .option('--action <action>', `only this action (${ACTIONS.join(', ')})`, oneOf(ACTIONS, 'an audit action'))
    .option('--since <when>', 'since an ISO 8601 time or a duration back from now (10m, 2h, 7d)', (v) => parseSince(v, context.now()))
    .option('--target-type <type>', `only actions on this kind of thing (${TARGET_TYPES.join(', ')})`, oneOf(TARGET_TYPES, 'a target type'))
    .option('--target <id>', 'only actions on this id (a function, endpoint, task, batch, object… id)')
    .option('--actor <user>', 'only actions made by this user (a user id)', (v) => checkTaskId(v, 'user id'))
    .option('--jsonl', 'every matching entry as JSON lines on stdout, oldest first, as they are fetched (an export)')
    .option('--limit <n>', `at most this many entries (default: ${TABLE_ROWS} in the table, all with --jsonl)`, parsePositiveInt)
    .action(async (options: AuditOptions, command: Command) => {
      const query: AuditQueryOptions = {
        ...(options.action ? { action: options.action } : {}),
        ...(options.since ? { since: options.since } : {}),
        ...(options.targetType ? { targetType: options.targetType } : {}),
        ...(options.target ? { targetId: options.target } : {}),
        ...(options.actor ? { actorId: options.actor } : {}),
      };
      if (options.jsonl) {
        // an export: written as it arrives, never held whole
        await withClient(context, async (client) => {
          let n = 0;
          for await (const entry of client.auditEntries({ ...query, limit: 1000 })) {
            context.out(JSON.stringify(entry));
            if (++n === options.limit) break;
          }
        });
        return;
      }
      const limit = options.limit ?? TABLE_ROWS;
      const items = await withClient(context, async (client) => {
        const out: AuditEntry[] = [];
        for await (const entry of client.auditEntries({ ...query, order: 'desc', limit: Math.min(1000, limit) })) {
          out.push(entry);
          if (out.length === limit) break;
        }
        return out;
      });
      if (wantsJson(command)) return printJson(context, { items });
      if (items.length === 0) return context.out('No audit entries match.');
      context.out(
        formatTable(
          ['AT', 'ACTOR', 'ACTION', 'TARGET', 'DETAILS'],
          items.map((e) => [formatTime(e.at), actor(e), e.action, `${e.target.type} ${e.target.id}`, summary(e.details)]),
        ),
      );
    });
}

function oneOf<T extends string>(allowed: readonly string[], what: string): (value: string) => T {
  return (value) => {
    if (!allowed.includes(value)) throw new InvalidArgumentError(`"${value}" is not ${what}; use ${allowed.join(', ')}.`);
    return value as T;
  };
}

function actor(e: AuditEntry): string {
  if (e.actor.kind === 'system') return 'system';
  const who = e.actor.name ?? e.actor.id ?? '?';
  return e.actor.kind === 'endpoint' ? `endpoint ${who}` : who;
}

/** The details on one line, cut to fit a terminal row: names and counts first, lists and objects after. */
function summary(details: Record<string, unknown>): string {
  const nested = (v: unknown) => (v !== null && typeof v === 'object' ? 1 : 0);
  const text = Object.entries(details)
    .sort(([, a], [, b]) => nested(a) - nested(b))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}
