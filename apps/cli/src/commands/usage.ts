import { Option, type Command } from 'commander';
import type { UsageFigures, UsageResponse } from '@fx/sdk';
import { UsageBucket, UsageBy } from '@fx/protocol';
import type { CliContext } from '../cli.context.js';
import { wantsJson, withClient } from '../command.helpers.js';
import { formatTable, formatTime, printJson } from '../output.js';
import { parseSince } from '../parse.js';

interface UsageOptions {
  by?: UsageBy;
  since?: string;
  until?: string;
  bucket?: UsageBucket;
}

const KEY_HEADING: Record<UsageBy, string> = { user: 'USER', endpoint: 'ENDPOINT', function: 'FUNCTION' };

export function configureUsageCommand(program: Command, context: CliContext): void {
  program
    .command('usage')
    .description('what your tasks held and used: core-, GPU- and CPU-hours per user, endpoint or function, and the idle share of pilot blocks')
    .addOption(new Option('--by <key>', 'one row per user, endpoint or function (default: user)').choices(UsageBy.options))
    .option('--since <when>', 'from an ISO 8601 time or a duration back from now (24h, 7d; default: 7 days before --until)', (v) =>
      parseSince(v, context.now()),
    )
    .option('--until <when>', 'up to an ISO 8601 time or a duration back from now (default: now)', (v) => parseSince(v, context.now()))
    .addOption(new Option('--bucket <size>', 'time bucket of the series in --json (default: day)').choices(UsageBucket.options))
    .addHelpText('after', '\nAn admin sees everyone’s usage; anyone else sees their own. Windows are at most 366 days (31 with --bucket hour).')
    .action(async (options: UsageOptions, command: Command) => {
      const report = await withClient(context, (client) => client.usage(options));
      if (wantsJson(command)) return printJson(context, report);
      printReport(context, report);
    });
}

/** Hours for people: two decimals, more digits for small amounts (so a few seconds of a core is not 0.00). */
function formatHours(h: number): string {
  if (h === 0) return '0';
  if (h >= 100) return h.toFixed(0);
  if (h >= 0.01) return h.toFixed(2);
  return h.toPrecision(2);
}

const figures = (f: UsageFigures) => [
  formatHours(f.coreHours),
  formatHours(f.gpuHours),
  formatHours(f.cpuHours),
  formatHours(f.wallHours),
  String(f.attempts),
  String(f.tasks),
];

function printReport(context: CliContext, r: UsageResponse): void {
  context.out(`Usage by ${r.by}, ${formatTime(r.since)} to ${formatTime(r.until)}`);
  if (r.total.attempts === 0) context.out('No attempt ended in this window.');
  else {
    const rows = r.rows.map((row) => [row.name ?? row.key, ...figures(row)]);
    if (r.others) rows.push([`others (${r.others.attempts} attempts)`, ...figures(r.others)]);
    rows.push(['TOTAL', ...figures(r.total)]);
    context.out(formatTable([KEY_HEADING[r.by], 'CORE-H', 'GPU-H', 'CPU-H', 'WALL-H', 'ATTEMPTS', 'TASKS'], rows));
    if (r.total.measuredAttempts < r.total.attempts)
      context.err(`CPU-hours count ${r.total.measuredAttempts} of ${r.total.attempts} attempts: the others ran where CPU time is not measured (shell).`);
  }
  if (r.blocks.length === 0) return;
  context.out('');
  context.out('Pilot blocks (node-hours inside the window)');
  context.out(
    formatTable(
      ['ENDPOINT', 'BLOCKS', 'NODE-H', 'BUSY-H', 'IDLE-H', 'IDLE'],
      r.blocks.map((b) => [
        b.endpointName ?? b.endpointId,
        String(b.blocks),
        formatHours(b.nodeHours),
        formatHours(b.busyNodeHours),
        formatHours(b.idleNodeHours),
        b.idleShare === null ? '-' : `${(b.idleShare * 100).toFixed(1)}%`,
      ]),
    ),
  );
}
