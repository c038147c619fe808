import { readFileSync } from 'node:fs';
import { open, readFile, unlink, writeFile } from 'node:fs/promises';
import { readableLogLine } from '@fx/protocol';
import { readStatusFile } from '../agent/status.file.js';
import type { EndpointPaths } from '../config/endpoint.paths.js';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A detached agent that exited is a zombie until reaped, and a container's init may never reap it.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

export async function readPid(paths: EndpointPaths): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(paths.pid, 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The running agent's pid, or undefined (a stale pid file from a crash counts as not running). */
export async function runningPid(paths: EndpointPaths): Promise<number | undefined> {
  const pid = await readPid(paths);
  return pid !== undefined && pid !== process.pid && isAlive(pid) ? pid : undefined;
}

export async function writePid(paths: EndpointPaths, pid: number): Promise<void> {
  await writeFile(paths.pid, `${pid}\n`, { mode: 0o600 });
}

/** Removes the pid file if it still names `pid` (a newer agent may have replaced it). */
export async function removePid(paths: EndpointPaths, pid: number): Promise<void> {
  if ((await readPid(paths)) === pid) await unlink(paths.pid).catch(() => undefined);
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}

function kill(target: number, signal: NodeJS.Signals): void {
  try {
    process.kill(target, signal);
  } catch {
    // already gone
  }
}

/**
 * SIGKILLs the agent and whatever does work for it: its process group (a detached agent leads one, and
 * its js workers are in it) and the pids and shell groups it last reported in status.json.
 */
export async function killAgentTree(paths: EndpointPaths, pid: number): Promise<void> {
  const status = await readStatusFile(paths.status);
  const group = await processGroupOf(pid);
  kill(pid, 'SIGKILL');
  // Only when the agent leads its own group (started with --detach); never the caller's shell's group.
  if (group === pid) kill(-pid, 'SIGKILL');
  if (status?.pid === pid) {
    for (const worker of status.processes?.pids ?? []) kill(worker, 'SIGKILL');
    for (const group of status.processes?.processGroups ?? []) kill(-group, 'SIGKILL');
  }
}

/** How much of a log's end tailFile reads: the last lines of a log that may have grown to gigabytes. */
const TAIL_BYTES = 256 * 1024;

export async function tailFile(path: string, lines = 20): Promise<string> {
  try {
    const file = await open(path, 'r');
    let text: string;
    try {
      const { size } = await file.stat();
      const start = Math.max(0, size - TAIL_BYTES);
      const { buffer, bytesRead } = await file.read(Buffer.alloc(size - start), 0, size - start, start);
      text = buffer.subarray(0, bytesRead).toString('utf8');
      // a read that starts mid-file starts mid-line: that partial line is not shown
      if (start > 0) text = text.slice(text.indexOf('\n') + 1);
    } finally {
      await file.close();
    }
    // The log holds JSON records; the person reading this tail gets them as readable lines.
    return text
      .split('\n')
      .slice(-lines - 1)
      .map(readableLogLine)
      .join('')
      .trimEnd();
  } catch {
    return '';
  }
}

/** The process group of `pid` from /proc (Linux); undefined elsewhere or when it is gone. */
async function processGroupOf(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state, ppid, pgrp, …
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pgrp = Number.parseInt(fields[2] ?? '', 10);
    return Number.isInteger(pgrp) ? pgrp : undefined;
  } catch {
    return undefined;
  }
}
