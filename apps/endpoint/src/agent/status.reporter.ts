import type { HeartbeatPayload } from '@fx/protocol';
import type { Provider } from '../providers/provider.js';
import type { AgentState } from './agent.state.js';
import { CoalescedJob } from './coalesced.job.js';
import { runsOwnersOnly } from './task.admission.js';
import type { Logger } from './logger.js';
import { writeStatusFile, type AgentStatusSnapshot, type ConnectionState } from './status.file.js';

/** What the agent's parts know of its condition, read whenever a snapshot or heartbeat is built. */
export interface AgentFacts {
  state: AgentState;
  connection: ConnectionState;
  connectedAt?: string;
  queued: number;
  running: number;
  /** Results not yet acknowledged. */
  spooled: number;
  lastError?: string;
  spoolDegraded?: string;
}

export interface StatusReporterOptions {
  name: string;
  endpointId?: string;
  provider: Provider;
  /** When set, the snapshot is kept here (atomic rewrite on changes and heartbeats). */
  path?: string;
  /** Least time between two scheduled rewrites. */
  intervalMs: number;
  log: Logger;
  facts: () => AgentFacts;
}

/** Builds the status snapshot and `heartbeat` payload, and keeps the status file current. */
export class StatusReporter {
  private timer?: NodeJS.Timeout;
  /** Set once the agent shuts down: no more scheduled rewrites (writeNow still writes). */
  private frozen = false;
  private readonly writes = new CoalescedJob(() => this.write());

  constructor(private readonly options: StatusReporterOptions) {}

  /** The snapshot the status file and `heartbeat` are built from. */
  snapshot(): AgentStatusSnapshot {
    const provider = this.options.provider.status();
    const facts = this.options.facts();
    return {
      name: this.options.name,
      endpointId: this.options.endpointId,
      pid: process.pid,
      state: facts.state,
      connection: facts.connection,
      connectedAt: facts.connectedAt,
      updatedAt: new Date().toISOString(),
      workers: provider.workers,
      tasks: { queued: facts.queued, running: facts.running },
      spooled: facts.spooled,
      lastError: facts.lastError,
      processes: { pids: provider.pids, processGroups: provider.processGroups },
      ...(provider.blocks ? { blocks: provider.blocks } : {}),
      ...(provider.devices ? { devices: provider.devices } : {}),
      ...(provider.acceleratorNote ? { acceleratorNote: provider.acceleratorNote } : {}),
      ...(provider.sandboxNote ? { sandboxNote: provider.sandboxNote } : {}),
      ...(facts.spoolDegraded ? { spoolDegraded: facts.spoolDegraded } : {}),
      ...(provider.python ? { python: provider.python } : {}),
    };
  }

  heartbeat(): HeartbeatPayload {
    const status = this.options.provider.status();
    const facts = this.options.facts();
    const blocks = this.options.provider.blockReports?.() ?? [];
    return {
      ...(status.blocks || status.devices ? { details: { blocks: status.blocks, devices: status.devices } } : {}),
      state: facts.state,
      workers: status.workers,
      queued: facts.queued,
      running: facts.running,
      spooled: facts.spooled,
      provider: this.options.provider.name,
      ...(status.python ? { python: status.python } : {}),
      ...(blocks.length > 0 ? { blocks } : {}),
      // what TaskAdmission refuses, said ahead so that group routing sends no such task here
      ...(runsOwnersOnly(status.sandbox) ? { ownerOnly: true } : {}),
    };
  }

  /** Rewrites the file within `intervalMs` (once, however often asked meanwhile). */
  schedule(): void {
    if (!this.options.path || this.timer || this.frozen) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.writeNow();
    }, this.options.intervalMs);
  }

  /** Rewrites the file; a write already under way is followed by one more with the latest state. */
  writeNow(): Promise<void> {
    if (!this.options.path) return Promise.resolve();
    return this.writes.run();
  }

  /** No more scheduled rewrites from now on (one already scheduled still happens until cancel()). */
  freeze(): void {
    this.frozen = true;
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async write(): Promise<void> {
    const path = this.options.path as string;
    await writeStatusFile(path, this.snapshot()).catch((error: unknown) => this.options.log.warn(`could not write ${path}: ${String(error)}`));
  }
}
