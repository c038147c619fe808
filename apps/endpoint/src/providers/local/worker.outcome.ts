import { closeSync, constants, fstatSync, openSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { failure, type ExecutionOutcome } from '../../runtimes/task.errors.js';
import type { WorkerOutcome } from './worker.messages.js';

/** The one name a worker may give its result file, in its own directory. */
export const resultFileName = (taskId: string): string => `fx-result-${taskId}`;

/** Where a worker's files lie and whose they must be (the worker's user). */
export interface WorkerFiles {
  workDir: string;
  /** The uid a worker's files belong to (nobody under the `uid` sandbox). */
  owner?: number;
}

/**
 * A worker's `done` as the agent reports it: the result parsed from the JSON text the worker made, or
 * the result file it wrote. The file is opened here, at once and synchronously, then unlinked: the
 * worker's directory goes when the worker does, which may be the next moment. The worker is task code's
 * process, so its word is checked: the file must be the task's own name in the worker's directory, not
 * a link (O_NOFOLLOW), a regular file of the worker's user, and at least as long as it said.
 */
export function workerOutcome(outcome: WorkerOutcome, taskId: string, files: WorkerFiles): ExecutionOutcome {
  const output = outcome.output ? { output: outcome.output } : {};
  if (!outcome.ok) return { status: 'failed', error: outcome.error, ...output };
  if ('json' in outcome) return { status: 'success', result: JSON.parse(outcome.json) as unknown, ...output };
  const refuse = (why: string): ExecutionOutcome => ({
    ...failure('INTERNAL', 'ResultFileRefused', `the worker's result file was refused: ${why}`),
    ...output,
  });
  if (outcome.file !== resultFileName(taskId)) return refuse(`it is named "${String(outcome.file).slice(0, 100)}", not ${resultFileName(taskId)}`);
  if (!Number.isSafeInteger(outcome.size) || outcome.size < 0) return refuse('its size is not a number of bytes');
  if (outcome.encoding !== 'bytes' && outcome.encoding !== 'json') return refuse('its encoding is neither bytes nor json');
  const path = join(files.workDir, outcome.file);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    return refuse((error as Error).message);
  }
  const stat = fstatSync(fd);
  const problem = !stat.isFile()
    ? 'it is not a regular file'
    : files.owner !== undefined && stat.uid !== files.owner
      ? `it belongs to uid ${stat.uid}, not the worker's`
      : stat.size < outcome.size
        ? `it holds ${stat.size} bytes, not the ${outcome.size} the worker reported`
        : undefined;
  try {
    unlinkSync(path);
  } catch {
    // the worker's directory is being removed already
  }
  if (problem) {
    closeSync(fd);
    return refuse(problem);
  }
  return { status: 'success', result: undefined, resultFile: { fd, size: outcome.size, encoding: outcome.encoding }, ...output };
}
