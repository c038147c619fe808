import type { TaskSpec } from '@fx/protocol';
import type { ExecutionOutcome } from '../runtimes/task.errors.js';

/**
 * The words of the agent's lines about a task (TaskLines): short sentences a user reads in
 * `fx logs <task> --agent`; the facts travel as fields too, for the JSON log.
 */

/**
 * Where the task started. Worker ids say where: `w0-1234` (a local worker, pid 1234), `shell` (a shell
 * task's own process), `<block>/<node>/w<slot>` (a Slurm block's slot).
 */
export function startedLine(workerId: string | undefined): { line: string; fields: Record<string, string> } {
  if (workerId === undefined || workerId === '') return { line: 'started', fields: {} };
  if (workerId === 'shell') return { line: 'started as a shell process', fields: { worker: workerId } };
  const [blockId, node, slot] = workerId.split('/');
  if (slot !== undefined && blockId && node) {
    return { line: `started on worker ${workerId} (block ${blockId}, node ${node})`, fields: { worker: workerId, blockId, node } };
  }
  return { line: `started on worker ${workerId}`, fields: { worker: workerId } };
}

/** How it ended and how long it ran: `finished: success in 12 ms`, `finished: failed (WALLTIME_EXCEEDED) after 5.0 s: …`. */
export function finishedLine(outcome: ExecutionOutcome, ranMs: number, workerId: string | undefined): string {
  const took = duration(Math.max(0, ranMs));
  const where = workerId && workerId !== 'shell' ? ` on worker ${workerId}` : '';
  if (outcome.status === 'success') return `finished: success in ${took}${where}`;
  return `finished: failed (${outcome.error.code}) after ${took}${where}: ${outcome.error.message}`;
}

function duration(ms: number): string {
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  if (ms < 600_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

/** The facts of a line about a task: its id and attempt, and whether it is about the task's speculative copy. */
export function facts(task: Pick<TaskSpec, 'taskId' | 'attempt' | 'copy'>): { taskId: string; attempt: number; copy?: true } {
  return task.copy ? { taskId: task.taskId, attempt: task.attempt, copy: true } : { taskId: task.taskId, attempt: task.attempt };
}
