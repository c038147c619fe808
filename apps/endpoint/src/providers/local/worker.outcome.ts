import { closeSync, constants, fstatSync, openSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ObjectName } from '@fx/protocol';
import { discardFiles, failure, type ExecutionOutcome, type NamedOutput, type ResultFile } from '../../runtimes/task.errors.js';
import type { WorkerOutcome } from './worker.messages.js';
import { checkedUsage } from '../../runtimes/usage.meter.js';

/** The one name a worker may give its result file, in its own directory. */
export const resultFileName = (taskId: string): string => `fx-result-${taskId}`;
/** The name of a task's `index`th named output file (js.outputs.ts, fx_worker_objects.py). */
const OUTPUT_FILE = (taskId: string) => new RegExp(`^fx-output-${taskId}-\\d{1,4}$`);

/** Where a worker's files lie and whose they must be (the worker's user). */
export interface WorkerFiles {
  workDir: string;
  /** The uid a worker's files belong to (the worker's own under the `uid` sandbox). */
  owner?: number;
}

/** A file a worker reported, as the worker described it. */
interface Reported {
  file: unknown;
  size: unknown;
  encoding: unknown;
}

class Refused extends Error {}

/**
 * A worker's `done` as the agent reports it: the result parsed from the JSON text the worker made, or
 * the result file it wrote, and its named outputs. Files are opened here, at once and synchronously,
 * then unlinked: the worker's directory goes when the worker does, which may be the next moment. The
 * worker is task code's process, so its word is checked: a file must bear the task's own name in the
 * worker's directory, not be a link (O_NOFOLLOW), be a regular file of the worker's user, and hold at
 * least the bytes it said.
 */
export function workerOutcome(outcome: WorkerOutcome, taskId: string, files: WorkerFiles): ExecutionOutcome {
  const usage = checkedUsage(outcome.usage);
  // what it printed and what it used go with any outcome
  const extras = { ...(outcome.output ? { output: outcome.output } : {}), ...(usage ? { usage } : {}) };
  if (!outcome.ok) return { status: 'failed', error: outcome.error, ...extras };
  const opened: ExecutionOutcome & { status: 'success' } = { status: 'success', result: undefined, ...extras };
  try {
    if ('json' in outcome) opened.result = JSON.parse(outcome.json) as unknown;
    else opened.resultFile = openReported(outcome, (name) => name === resultFileName(taskId), files);
    const named = outcome.namedOutputs ?? [];
    if (!Array.isArray(named) || named.length > 1000) throw new Refused('the named outputs are not a list of at most 1000');
    for (const n of named) {
      if (!ObjectName.safeParse(n.name).success) throw new Refused(`the output name ${JSON.stringify(String(n.name).slice(0, 100))} is not valid`);
      const file = openReported(n, (name) => OUTPUT_FILE(taskId).test(name), files);
      (opened.namedOutputs ??= []).push({ ...file, name: n.name } satisfies NamedOutput);
    }
    return opened;
  } catch (error) {
    discardFiles(opened);
    if (!(error instanceof Refused)) throw error;
    return { ...failure('INTERNAL', 'ResultFileRefused', `a file of the worker was refused: ${error.message}`), ...extras };
  }
}

function openReported(reported: Reported, ownName: (name: string) => boolean, files: WorkerFiles): ResultFile {
  const { file, size, encoding } = reported;
  if (typeof file !== 'string' || !ownName(file)) throw new Refused(`it is named "${String(file).slice(0, 100)}", not one of the task's own`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new Refused('its size is not a number of bytes');
  if (encoding !== 'bytes' && encoding !== 'json') throw new Refused('its encoding is neither bytes nor json');
  const path = join(files.workDir, file);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    throw new Refused((error as Error).message);
  }
  const stat = fstatSync(fd);
  try {
    unlinkSync(path);
  } catch {
    // the worker's directory is being removed already
  }
  const problem = !stat.isFile()
    ? 'it is not a regular file'
    : files.owner !== undefined && stat.uid !== files.owner
      ? `it belongs to uid ${stat.uid}, not the worker's`
      : stat.size < size
        ? `it holds ${stat.size} bytes, not the ${size} the worker reported`
        : undefined;
  if (problem) {
    closeSync(fd);
    throw new Refused(problem);
  }
  return { fd, size, encoding };
}
