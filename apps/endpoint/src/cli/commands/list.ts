import { readdir } from 'node:fs/promises';
import type { Command } from 'commander';
import { readStatusFile } from '../../agent/status.file.js';
import { loadEndpointConfig } from '../../config/endpoint.config.js';
import { endpointPaths, endpointsDir } from '../../config/endpoint.paths.js';
import type { CliContext } from '../cli.context.js';
import { runningPid } from '../process.control.js';

export function configureListCommand(program: Command, context: CliContext): void {
  program
    .command('list')
    .description('list the endpoints configured in $FX_HOME')
    .action(async () => {
      let names: string[];
      try {
        names = (await readdir(endpointsDir(context.env.home), { withFileTypes: true }))
          .filter((d) => d.isDirectory())
          .map((d) => d.name)
          .sort();
      } catch {
        names = [];
      }
      const rows: string[][] = [];
      for (const name of names) {
        const paths = endpointPaths(context.env.home, name);
        let id = '(invalid config)';
        try {
          id = (await loadEndpointConfig(paths)).endpointId;
        } catch {
          // listed anyway, so the person sees it and can fix or delete it
        }
        const pid = await runningPid(paths);
        const status = await readStatusFile(paths.status);
        rows.push([name, id, describeState(pid, status?.pid === pid ? status?.state : undefined, status?.state), pid === undefined ? '-' : String(pid)]);
      }
      if (rows.length === 0) {
        context.out(`No endpoints configured in ${context.env.home}.`);
        return;
      }
      context.out(formatTable(['NAME', 'ENDPOINT ID', 'STATE', 'PID'], rows));
    });
}

/** What to call an endpoint's state: the live agent's, or the last one recorded if it is not running. */
export function describeState(pid: number | undefined, liveState: string | undefined, lastState: string | undefined): string {
  if (pid !== undefined) return liveState ?? 'STARTING';
  return lastState === 'FAILED' ? 'FAILED' : 'STOPPED';
}

export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}
