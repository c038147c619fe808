import { readdir } from 'node:fs/promises';
import type { Command } from 'commander';
import type { PythonReport } from '@fx/protocol';
import { readStatusFile } from '../../agent/status.file.js';
import type { CliContext } from '../cli.context.js';
import { configuredEndpoint, endpointCommand } from '../cli.options.js';
import { runningPid } from '../process.control.js';
import { describeState } from './list.js';

export function configureStatusCommand(program: Command, context: CliContext): void {
  endpointCommand(program, 'status', "show an endpoint's state, connection, workers, tasks, Python and spooled results")
    .option('--json', 'print the raw status snapshot')
    .action(async (name: string, options: { json?: boolean }) => {
      const { paths, config } = await configuredEndpoint(context, name);
      const pid = await runningPid(paths);
      const status = await readStatusFile(paths.status);
      const live = pid !== undefined && status?.pid === pid ? status : undefined;
      if (options.json) {
        context.out(
          JSON.stringify({ name, endpointId: config.endpointId, running: pid !== undefined, pid: pid ?? null, status: live ?? status ?? null }, null, 2),
        );
        return;
      }
      const spooled = live?.spooled ?? (await countSpooled(paths.spool));
      const lines: [string, string][] = [
        ['endpoint', `${name} (${config.endpointId})`],
        ['server', config.url],
        ['state', describeState(pid, live?.state, status?.state)],
        ['pid', pid === undefined ? '-' : String(pid)],
      ];
      if (live) {
        lines.push(['connection', `${live.connection}${live.connectedAt ? ` (since ${live.connectedAt})` : ''}`]);
        lines.push(['workers', `${live.workers.busy} busy, ${live.workers.idle} idle of ${live.workers.total}`]);
        lines.push(['tasks', `${live.tasks.queued} queued, ${live.tasks.running} running`]);
        lines.push(['updated', live.updatedAt]);
        for (const b of live.blocks ?? []) {
          lines.push([
            `block ${b.id}`,
            `job ${b.jobId ?? '-'} ${b.state}${b.schedulerState ? ` (${b.schedulerState})` : ''}, ${b.busy}/${b.workers} workers busy${b.nodes.length ? ` on ${b.nodes.join(',')}` : ''}`,
          ]);
        }
        for (const d of live.devices ?? []) lines.push([`device ${d.device}`, `${d.worker}${d.busy ? ' (busy)' : ''}`]);
        if (live.python) lines.push(['python', describePython(live.python)]);
        if (live.acceleratorNote) lines.push(['accelerators', live.acceleratorNote]);
        if (live.sandboxNote) lines.push(['sandbox', `WARN ${live.sandboxNote}`]);
        if (live.spoolDegraded) lines.push(['spool', `WARN degraded: ${live.spoolDegraded}`]);
      } else {
        lines.push(['workers', `${config.workers} configured`]);
      }
      lines.push(['spooled results', spooled === undefined ? 'unknown' : String(spooled)]);
      const lastError = live?.lastError ?? (pid === undefined ? status?.lastError : undefined);
      if (lastError) lines.push(['last error', lastError]);
      const width = Math.max(...lines.map(([k]) => k.length));
      context.out(lines.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join('\n'));
    });
}

/** `3.11.7 at /usr/bin/python3 (212 distributions, sha256 1a2b3c4d5e6f)`, or why there is none. */
export function describePython(python: PythonReport): string {
  if (!python.available) return `unavailable: ${python.reason}`;
  const d = python.distributions;
  return `${python.version} at ${python.executable} (${d.count} distributions, sha256 ${d.sha256.slice(0, 12)})`;
}

/** Without a running agent, the spool files are the only record: count results in them. */
async function countSpooled(dir: string): Promise<number | undefined> {
  try {
    const { ResultSpool } = await import('../../agent/result.spool.js');
    const names = await readdir(dir);
    if (names.length === 0) return 0;
    // read only: an agent starting meanwhile may be appending to it
    return await ResultSpool.count(dir);
  } catch {
    return undefined;
  }
}
