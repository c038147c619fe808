import { randomUUID } from 'node:crypto';
import { closeSync, constants, createReadStream, createWriteStream, fstatSync, openSync, unlinkSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { discardResultFile, failure, type ExecutionOutcome } from '../../runtimes/task.errors.js';

/**
 * Result files across a block: a node's worker writes a large or bytes result to its own (node-local)
 * directory; the node copies it into the endpoint's `objects/incoming` directory, on the filesystem the
 * compute nodes share with the login node (where block scripts and the python worker already live), and
 * the agent opens it there to upload it. The agent takes only files of that directory, by their own name.
 */
const INCOMING_NAME = /^[0-9a-f-]{36}-[0-9a-f-]{36}\.result$/;

/** Node side: the outcome with its result file copied into `incomingDir` (the copy's path instead of the fd). */
export async function shareResultFile(outcome: ExecutionOutcome, taskId: string, incomingDir: string | undefined): Promise<ExecutionOutcome> {
  if (outcome.status !== 'success' || !outcome.resultFile) return outcome;
  const { resultFile, ...rest } = outcome;
  try {
    if (!incomingDir) throw new Error('the block worker was started without --results-dir');
    const path = join(incomingDir, `${taskId}-${randomUUID()}.result`);
    try {
      await pipeline(
        createReadStream('', { fd: resultFile.fd, start: 0, end: Math.max(0, resultFile.size - 1), autoClose: false }),
        createWriteStream(path, { mode: 0o600 }),
      );
    } catch (error) {
      await unlink(path).catch(() => undefined);
      throw error;
    }
    return { ...rest, result: null, resultPath: { path, size: resultFile.size, encoding: resultFile.encoding } } as ExecutionOutcome;
  } catch (error) {
    return failure('OBJECT_UNAVAILABLE', 'ObjectUnavailable', `the result could not be handed to the agent: ${(error as Error).message}`);
  } finally {
    discardResultFile(resultFile);
  }
}

/** Agent side: a node's outcome with its shared result file opened (and unlinked), or a failure saying why not. */
export function takeResultFile(outcome: ExecutionOutcome, incomingDir: string): ExecutionOutcome {
  const shared = (outcome as { resultPath?: { path: string; size: number; encoding: 'bytes' | 'json' } }).resultPath;
  if (outcome.status !== 'success' || !shared) return outcome;
  const { resultPath: _shared, ...rest } = outcome as ExecutionOutcome & { resultPath?: unknown };
  const name = basename(shared.path);
  if (join(incomingDir, name) !== shared.path || !INCOMING_NAME.test(name)) {
    return failure('INTERNAL', 'ResultFileRefused', `the block worker named a result file outside ${incomingDir}`);
  }
  let fd: number;
  try {
    fd = openSync(shared.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    return failure('OBJECT_UNAVAILABLE', 'ObjectUnavailable', `the block worker's result file cannot be read here: ${(error as Error).message}`);
  }
  const stat = fstatSync(fd);
  try {
    unlinkSync(shared.path);
  } catch {
    // gone already
  }
  if (!stat.isFile() || stat.size < shared.size) {
    closeSync(fd);
    return failure('INTERNAL', 'ResultFileRefused', `the block worker's result file is not the ${shared.size} bytes it reported`);
  }
  return { ...(rest as ExecutionOutcome & { status: 'success' }), resultFile: { fd, size: shared.size, encoding: shared.encoding } };
}
