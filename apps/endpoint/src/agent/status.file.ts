import { readFile, rename, writeFile } from 'node:fs/promises';
import type { PythonReport, WorkerCounts } from '@fx/protocol';
import type { BlockStatus, DeviceStatus } from '../providers/provider.js';
import type { AgentState } from './agent.state.js';

export type ConnectionState = 'disconnected' | 'connecting' | 'connected';

/** What `fx-endpoint status` and `list` show; the running agent rewrites it on every change and heartbeat. */
export interface AgentStatusSnapshot {
  name: string;
  endpointId?: string;
  pid: number;
  state: AgentState;
  connection: ConnectionState;
  /** ISO time of the last welcomed connection. */
  connectedAt?: string;
  updatedAt: string;
  workers: WorkerCounts;
  tasks: { queued: number; running: number };
  spooled: number;
  /** The last problem worth telling a person about (a refused connection, a failed start). */
  lastError?: string;
  /** Processes doing work for this agent, so `stop --force` can end them if the agent itself is gone. */
  processes: { pids: number[]; processGroups: number[] };
  /** HPC providers: blocks with their job ids and states. */
  blocks?: BlockStatus[];
  /** Pinned accelerators and which worker holds each. */
  devices?: DeviceStatus[];
  acceleratorNote?: string;
  /** Why tasks run without a sandbox, when they do. */
  sandboxNote?: string;
  /** Set while results cannot be written to the spool (kept in memory only). */
  spoolDegraded?: string;
  /** The Python of the python workers (or why there is none); absent until probed. */
  python?: PythonReport;
}

/** Atomic replace: readers never see a half-written file. */
export async function writeStatusFile(path: string, snapshot: AgentStatusSnapshot): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(snapshot, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, path);
}

export async function readStatusFile(path: string): Promise<AgentStatusSnapshot | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as AgentStatusSnapshot;
  } catch {
    return undefined;
  }
}
